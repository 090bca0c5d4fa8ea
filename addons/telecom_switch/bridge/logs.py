"""Structured logs: one JSON object per line on stderr."""
import datetime as dt
import json
import logging
import sys

logger = logging.getLogger('telecom.ari_bridge')


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            'ts': dt.datetime.fromtimestamp(
                record.created, dt.timezone.utc).isoformat(
                timespec='milliseconds'),
            'level': record.levelname.lower(),
            'event': record.getMessage(),
            }
        entry.update(getattr(record, 'fields', {}))
        if record.exc_info:
            entry['exception'] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup(level='INFO'):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False


def log(level, event, **fields):
    logger.log(level, event, extra={'fields': fields})


def debug(event, **fields):
    log(logging.DEBUG, event, **fields)


def info(event, **fields):
    log(logging.INFO, event, **fields)


def warning(event, **fields):
    log(logging.WARNING, event, **fields)


def error(event, **fields):
    log(logging.ERROR, event, **fields)
