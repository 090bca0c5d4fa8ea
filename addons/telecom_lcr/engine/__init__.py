"""Pure-Python least-cost routing engine of telecom_lcr (no trytond import).

Compile carriers, their decks and the routing policies once with
``compile_routing``, then ask ``route_call`` which carriers may take a call
and in what order. Carrier decks are rating-engine ``Rate``s, read with
the rating engine's ``read_rate_deck``. See README.md.
"""
from .csvio import read_carriers, read_quality_stats
from .index import RoutingError, RoutingIndex, compile_routing
from .model import (
    SKIP_REASONS, STRATEGIES, Carrier, CarrierDeck, CarrierUsage, Gateway,
    PlanRouting, QualityStats, Route, RoutingDecision, RoutingPolicy,
    RoutingRule, Skip)
from .routing import route_call

__all__ = [
    'SKIP_REASONS', 'STRATEGIES', 'Carrier', 'CarrierDeck', 'CarrierUsage',
    'Gateway', 'PlanRouting', 'QualityStats', 'Route', 'RoutingDecision',
    'RoutingError', 'RoutingIndex', 'RoutingPolicy', 'RoutingRule', 'Skip',
    'compile_routing', 'read_carriers', 'read_quality_stats', 'route_call']
