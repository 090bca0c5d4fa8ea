"""Time bands: which rate is in force at each second of a call.

A ``BandSchedule`` is compiled for an ordered list of rates of one prefix
(first = strongest). For every local day it holds the segments of the day
and the rate in force in each; a day's segments depend only on the
effective weekday of the day and of the day before (a window that wraps
midnight continues into the next morning), so 49 day profiles cover every
day of every year. A holiday is a Sunday. Instants are UTC epoch seconds;
local time is UTC plus the zone's offset, taken from a table of the zone's
transitions, so days of 23 or 25 hours are laid out correctly.
"""
import datetime as dt
from bisect import bisect_right
from zoneinfo import ZoneInfo

DAY = 86400
WEEK = 7 * DAY
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0).
SUNDAY = 6


class ZoneOffsets:
    "UTC offsets of a time zone, looked up by bisection in its transitions."
    __slots__ = ('zone', 'transitions', 'offsets')

    # Covers any call a running system rates; outside, zoneinfo answers.
    FIRST_YEAR = 1990
    LAST_YEAR = 2080

    def __init__(self, name):
        self.zone = ZoneInfo(name)
        low = _epoch(dt.datetime(self.FIRST_YEAR, 1, 1))
        high = _epoch(dt.datetime(self.LAST_YEAR, 1, 1))
        transitions, offsets = [low], [self._offset(low)]
        # Zones change offset a few times a year, weeks apart, so a weekly
        # scan refined by bisection finds every change.
        for week in [*range(low + WEEK, high, WEEK), high]:
            offset = self._offset(week)
            if offset != offsets[-1]:
                before, after = week - WEEK, week
                while after - before > 1:
                    middle = (before + after) // 2
                    if self._offset(middle) == offset:
                        after = middle
                    else:
                        before = middle
                transitions.append(after)
                offsets.append(offset)
        transitions.append(high)
        self.transitions = tuple(transitions)
        self.offsets = tuple(offsets)

    def _offset(self, instant):
        moment = dt.datetime.fromtimestamp(instant, self.zone)
        return int(moment.utcoffset().total_seconds())

    def at(self, instant):
        "Return the offset at ``instant`` and the instant it may change."
        transitions = self.transitions
        index = bisect_right(transitions, instant) - 1
        if 0 <= index < len(self.offsets):
            return self.offsets[index], transitions[index + 1]
        return self._offset(instant), instant + 3600


def _epoch(moment):
    return int(moment.replace(tzinfo=dt.timezone.utc).timestamp())


def day_intervals(windows, previous_weekday, weekday):
    "Return the [start, end) seconds of a day that ``windows`` cover."
    intervals = []
    for window in windows:
        start, end = window.start * 60, window.end * 60
        if end <= start:
            if previous_weekday in window.days and end:
                intervals.append((0, end))
            if weekday in window.days:
                intervals.append((start, DAY))
        elif weekday in window.days:
            intervals.append((start, end))
    return intervals


class BandSchedule:
    """Rates in force over time for rates listed strongest first.

    ``bands[i]`` is the list of windows of rate i's band, or None for a
    rate that applies at all times.
    """
    __slots__ = ('offsets', 'holidays', 'profiles', 'days')

    # Bound of the memo of day segments (``days``), cleared when full.
    DAYS_MEMO = 4096

    def __init__(self, bands, offsets, holidays):
        self.offsets = offsets
        self.holidays = holidays  # local epoch days
        # UTC epoch day → segments(): a memo for the batch fast path.
        self.days = {}
        profiles = []
        for previous_weekday in range(7):
            for weekday in range(7):
                profiles.append(
                    self._profile(bands, previous_weekday, weekday))
        self.profiles = tuple(profiles)

    @staticmethod
    def _profile(bands, previous_weekday, weekday):
        covered = [
            [(0, DAY)] if windows is None
            else day_intervals(windows, previous_weekday, weekday)
            for windows in bands]
        cuts = {0, DAY}
        for intervals in covered:
            for start, end in intervals:
                cuts.update((start, end))
        cuts = sorted(cuts)
        starts, rates = [], []
        for start in cuts[:-1]:
            rate = next((
                    index for index, intervals in enumerate(covered)
                    if any(a <= start < b for a, b in intervals)), -1)
            if not rates or rates[-1] != rate:
                starts.append(start)
                rates.append(rate)
        starts.append(DAY)
        return tuple(starts), tuple(rates)

    def _weekday(self, local_day):
        if local_day in self.holidays:
            return SUNDAY
        return (local_day + EPOCH_WEEKDAY) % 7

    def lay(self, start, seconds):
        """Lay ``seconds`` from UTC ``start`` on the schedule.

        Return ([(rate index, seconds), …] in timeline order, None), or
        (None, instant) for the first instant no rate covers.
        """
        pieces = []
        instant, remaining = start, seconds
        while remaining > 0:
            offset, change = self.offsets.at(instant)
            local_day, second = divmod(instant + offset, DAY)
            starts, rates = self.profiles[
                7 * self._weekday(local_day - 1) + self._weekday(local_day)]
            index = bisect_right(starts, second) - 1
            rate = rates[index]
            if rate < 0:
                return None, instant
            until = min(instant + starts[index + 1] - second, change)
            length = min(remaining, until - instant)
            if pieces and pieces[-1][0] == rate:
                pieces[-1] = (rate, pieces[-1][1] + length)
            else:
                pieces.append((rate, length))
            instant += length
            remaining -= length
        return pieces, None

    def segments(self, day):
        """Return (cuts, rates) of UTC epoch ``day`` (memoised in ``days``).

        ``rates[i]`` (rate index, -1 = none) is in force from ``cuts[i]``
        to ``cuts[i + 1]``; the last segment may end after the day. Adjacent
        segments with the same rate are merged, as ``lay`` merges pieces,
        so a call from ``start`` in segment i is one piece iff it ends by
        ``cuts[i + 1]``.
        """
        instant = day * DAY
        end = instant + DAY
        # The last segment runs on past the day's end (until its rate
        # changes, at most a day later): a call across midnight in one band
        # is still one piece.
        limit = end + DAY
        cuts, rates = [], []
        while instant < limit:
            offset, change = self.offsets.at(instant)
            local_day, second = divmod(instant + offset, DAY)
            starts, indexes = self.profiles[
                7 * self._weekday(local_day - 1) + self._weekday(local_day)]
            index = bisect_right(starts, second) - 1
            rate = indexes[index]
            if not rates or rates[-1] != rate:
                if instant >= end:
                    break
                cuts.append(instant)
                rates.append(rate)
            instant = min(instant + starts[index + 1] - second, change)
        cuts.append(min(instant, limit))
        if len(self.days) >= self.DAYS_MEMO:
            self.days.clear()
        found = self.days[day] = (tuple(cuts), tuple(rates))
        return found
