"""Import of existing 重大隐患督改台账 (Excel): every row validated first, then one HazardWorkflow per hazard, opened
in the stage its row records with its original dates.

layout: the columns read (our export's, plus what a new hazard needs) and the template; parse: the workbook,
streamed; validate: every row, each problem by row, column and a reason in Chinese; jobs: the import_job table;
runner: validation, then the workflows started with bounded concurrency; demo: a realistic district ledger;
command: `cli.py import` and `cli.py demo`, with a progress bar.
"""
