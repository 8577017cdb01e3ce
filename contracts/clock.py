from datetime import date, datetime, time, timedelta, timezone

# China has kept UTC+8 without daylight saving since 1991; a fixed offset needs no tz database,
# which keeps it usable inside the workflow sandbox.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
# The days any date this system is given may fall on: earlier or later is a typing error (0001, 9999), and a
# timestamp near year 1 or 9999 cannot even be moved to UTC for the database.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2099, 12, 31)


def china_date(moment: datetime) -> date:
    return moment.astimezone(CHINA_TZ).date()


def day_start(day: date) -> datetime:
    """Midnight in China: a found date or a report's cut-off is a day on the officials' wall calendar."""
    return datetime.combine(day, time(), CHINA_TZ)
