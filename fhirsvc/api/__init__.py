"""HTTP adapter: the Flask blueprint, content negotiation, errors, CapabilityStatement."""
from .errors import register_error_handlers
from .views import bp

__all__ = ["bp", "register_error_handlers"]
