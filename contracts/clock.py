from datetime import date, datetime, timedelta, timezone

# China has kept UTC+8 without daylight saving since 1991; a fixed offset needs no tz database,
# which keeps it usable inside the workflow sandbox.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


def china_date(moment: datetime) -> date:
    return moment.astimezone(CHINA_TZ).date()
