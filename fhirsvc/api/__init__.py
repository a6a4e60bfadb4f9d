"""HTTP adapter: the Flask blueprint (route table), content negotiation, errors."""
from .errors import register_error_handlers
from .views import ROUTES, make_blueprint

__all__ = ["ROUTES", "make_blueprint", "register_error_handlers"]
