"""台账 (ledgers) and the 调度表 (dispatch report) as Excel files, written row by row from the read model."""
