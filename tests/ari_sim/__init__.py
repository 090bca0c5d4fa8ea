"""ARI simulator: Asterisk's REST interface and events WebSocket for tests."""
from .server import AriSimulator, Channel, RecordedRequest, format_timestamp

__all__ = ['AriSimulator', 'Channel', 'RecordedRequest', 'format_timestamp']
