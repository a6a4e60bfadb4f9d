"""Security: SMART on FHIR scopes, bearer tokens, the built-in SMART Backend Services
authorization server, the access guard every use case asks, the audit trail and limits.
See docs/security.md.

    guard.require(ctx, rtype, letter)     # the one-line check for a new door (403 or Access)
"""
from .audit import AuditLog, audit_event, change_rows
from .authserver import AuthorizationServer, OAuthError, smart_configuration
from .guard import Access, Guard, forbidden
from .modes import check_mode
from .scopes import ADMIN_SCOPE, AUDITOR_SCOPE, Grants, Scope, parse_scope
from .tokens import ALGORITHMS, Claims, InvalidToken, Issuer, SigningKey, TokenVerifier

__all__ = ["ADMIN_SCOPE", "ALGORITHMS", "AUDITOR_SCOPE", "Access", "AuditLog",
           "AuthorizationServer", "Claims", "Grants", "Guard", "InvalidToken", "Issuer",
           "OAuthError", "Scope", "SigningKey", "TokenVerifier", "audit_event", "change_rows",
           "check_mode", "forbidden", "parse_scope", "smart_configuration"]
