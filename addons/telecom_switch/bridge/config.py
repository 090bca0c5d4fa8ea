"""Configuration of telecom-ari-bridge: command-line flags, each with an
environment variable as default (flags win)."""
import argparse
import os
from dataclasses import dataclass, field

# (flag, environment variable, type, default, help)
_OPTIONS = [
    ('--ari-url', 'TELECOM_ARI_URL', str, 'http://127.0.0.1:8088',
        "Asterisk's HTTP server (ARI lives under /ari)"),
    ('--ari-user', 'TELECOM_ARI_USER', str, 'telecom',
        'ARI user (ari.conf)'),
    ('--ari-password', 'TELECOM_ARI_PASSWORD', str, None,
        'ARI password (ari.conf)'),
    ('--app', 'TELECOM_ARI_APP', str, 'telecom',
        'Stasis application name used in the dialplan'),
    ('--api-url', 'TELECOM_API_URL', str, None,
        'call-control API base URL, e.g. http://billing:8000'),
    ('--api-key', 'TELECOM_API_KEY', str, None,
        "this switch's API key (sent as a Bearer token)"),
    ('--spool-dir', 'TELECOM_SPOOL_DIR', str,
        '/var/spool/telecom-ari-bridge',
        'directory of the journal of posts waiting for the API'),
    ('--emergency-numbers', 'TELECOM_EMERGENCY_NUMBERS', str, '112,911',
        'comma-separated numbers always routed, even when billing is down'),
    ('--emergency-dialstring', 'TELECOM_EMERGENCY_DIALSTRING', str,
        'PJSIP/{number}@emergency',
        'Dial() string for emergency calls the API could not route'),
    ('--authorize-timeout', 'TELECOM_AUTHORIZE_TIMEOUT', float, 2.0,
        'seconds to wait for authorize before failing closed'),
    ('--api-timeout', 'TELECOM_API_TIMEOUT', float, 5.0,
        'seconds to wait for answer/end/CDR posts'),
    ('--ari-timeout', 'TELECOM_ARI_TIMEOUT', float, 5.0,
        'seconds to wait for an ARI request'),
    ('--reconnect-initial', 'TELECOM_RECONNECT_INITIAL', float, 0.5,
        'first delay before reconnecting the events WebSocket'),
    ('--reconnect-max', 'TELECOM_RECONNECT_MAX', float, 30.0,
        'cap of the reconnection delay (doubles, jittered)'),
    ('--retry-initial', 'TELECOM_RETRY_INITIAL', float, 1.0,
        'first delay before retrying a post the API did not take'),
    ('--retry-max', 'TELECOM_RETRY_MAX', float, 60.0,
        'cap of the retry delay (doubles, jittered)'),
    ('--reconcile-grace', 'TELECOM_RECONCILE_GRACE', float, 2.0,
        'seconds a vanished channel may still report its own end '
        'before its CDR is closed from what the bridge knows'),
    ('--reconcile-interval', 'TELECOM_RECONCILE_INTERVAL', float, 60.0,
        "seconds between comparisons of the calls with Asterisk's "
        'channels (GET /channels), sent to the API to free the slots of '
        'calls Asterisk no longer has'),
    ('--update-before', 'TELECOM_UPDATE_BEFORE', float, 30.0,
        'seconds before the end of the time the API granted a call that '
        'the bridge asks for more (POST /v1/calls/{id}/update)'),
    ('--warning-before', 'TELECOM_WARNING_BEFORE', float, 60.0,
        'seconds before the money of a call ends that its caller hears '
        'the warning'),
    ('--warning-media', 'TELECOM_WARNING_MEDIA', str, 'sound:beep',
        'what the caller hears then (ARI media URI)'),
    ('--batch-size', 'TELECOM_BATCH_SIZE', int, 100,
        'CDRs per request when replaying the journal'),
    ('--shutdown-grace', 'TELECOM_SHUTDOWN_GRACE', float, 3.0,
        'seconds given to pending posts on SIGTERM (the rest stays '
        'journaled)'),
    ('--log-level', 'TELECOM_LOG_LEVEL', str, 'INFO', 'logging level'),
    ]


@dataclass
class Config:
    api_url: str
    api_key: str
    ari_url: str = 'http://127.0.0.1:8088'
    ari_user: str = 'telecom'
    ari_password: str = ''
    app: str = 'telecom'
    spool_dir: str = '/var/spool/telecom-ari-bridge'
    emergency_numbers: frozenset = field(
        default_factory=lambda: frozenset({'112', '911'}))
    emergency_dialstring: str = 'PJSIP/{number}@emergency'
    authorize_timeout: float = 2.0
    api_timeout: float = 5.0
    ari_timeout: float = 5.0
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0
    retry_initial: float = 1.0
    retry_max: float = 60.0
    reconcile_grace: float = 2.0
    reconcile_interval: float = 60.0
    update_before: float = 30.0
    warning_before: float = 60.0
    warning_media: str = 'sound:beep'
    batch_size: int = 100
    shutdown_grace: float = 3.0
    log_level: str = 'INFO'


def parse_numbers(text):
    return frozenset(n.strip().lstrip('+') for n in text.split(',')
        if n.strip())


def parse_config(argv=None, environ=None):
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog='telecom-ari-bridge',
        description='Connect Asterisk (ARI) to the call-control API: '
        'authorize and route calls, post their CDRs.')
    for flag, variable, type_, default, help_ in _OPTIONS:
        value = environ.get(variable)
        parser.add_argument(flag, type=type_,
            default=type_(value) if value is not None else default,
            help='%s [env %s]' % (help_, variable))
    args = parser.parse_args(argv)
    missing = [flag for flag in ('api_url', 'api_key', 'ari_password')
        if not getattr(args, flag)]
    if missing:
        parser.error('missing: %s' % ', '.join(
                '--' + m.replace('_', '-') for m in missing))
    values = vars(args)
    values['emergency_numbers'] = parse_numbers(values['emergency_numbers'])
    return Config(**values)
