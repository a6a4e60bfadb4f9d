"""Who may send over MLLP: the sender policy, TLS (mutual TLS too), and the context a
message is stored under (docs/security.md, "The HL7 v2 doors").

    policy = MllpPolicy.load(runtime, host)     # ValueError: the listener must not start
    ssl_context = policy.ssl_context()          # None: plain TCP
    peer = policy.peer(writer)                  # address + client certificate, per connection
    ctx, refusal = policy.admit(payload, peer)  # refusal: the AR ACK to send (audited)

`FHIRSVC_MLLP_SENDERS` is a JSON list of rules; a message is admitted by the first rule whose
every condition holds:

    [{"client": "lab-feed",                       # a registered client: its scopes apply
      "addresses": ["10.1.2.0/24", "10.1.3.7"],   # source address of the connection
      "tls_subjects": ["lab-feed.hospa.example"], # client certificate CN or DNS name (mTLS)
      "senders": ["LAB^HOSPA", "LAB2^*"]}]        # MSH-3^MSH-4 of every message (optional)

A rule needs `addresses` or `tls_subjects` (MSH-3/4 alone are whatever the sender writes), and,
with FHIRSVC_AUTH=smart, a `client`. Without a policy the listener starts only on a loopback
address (local senders are trusted like the CLI), or with auth off and FHIRSVC_AUTH_FORCE_OFF.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import ssl
from dataclasses import dataclass

from ..hl7v2.ack import build_ack
from ..hl7v2.errors import INTERNAL, problem
from .modes import is_loopback

log = logging.getLogger("fhirsvc.mllp")
DOOR_MLLP = "mllp"


@dataclass(frozen=True)
class Peer:
    address: str | None
    subjects: tuple[str, ...] = ()      # CN and DNS names of a verified client certificate


@dataclass(frozen=True)
class Rule:
    client: str | None
    networks: tuple
    subjects: frozenset[str]
    senders: tuple[tuple[str, str], ...]

    def admits_peer(self, peer: Peer) -> bool:
        if self.networks:
            try:
                addr = ipaddress.ip_address((peer.address or "").split("%")[0])
            except ValueError:
                return False
            if addr.version == 6 and addr.ipv4_mapped is not None:
                addr = addr.ipv4_mapped
            if not any(addr in n for n in self.networks):
                return False
        if self.subjects and not (set(peer.subjects) & self.subjects):
            return False
        return True

    def admits_senders(self, senders: list[tuple[str, str]]) -> bool:
        if not self.senders:
            return True
        return bool(senders) and all(
            any(a == app and f in ("*", fac) for a, f in self.senders) for app, fac in senders)


def parse_rules(text: str | None, auth: str) -> tuple[Rule, ...]:
    """The rules of FHIRSVC_MLLP_SENDERS (ValueError saying what is wrong)."""
    if not text or not text.strip():
        return ()
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"FHIRSVC_MLLP_SENDERS is not JSON: {exc}") from None
    if not isinstance(items, list):
        raise ValueError("FHIRSVC_MLLP_SENDERS is a JSON list of rules")
    rules = []
    for i, item in enumerate(items):
        where = f"FHIRSVC_MLLP_SENDERS[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where} is not an object")
        unknown = set(item) - {"client", "addresses", "tls_subjects", "senders"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        try:
            nets = tuple(ipaddress.ip_network(a, strict=False) for a in item.get("addresses")
                         or ())
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        subjects = frozenset(item.get("tls_subjects") or ())
        if not nets and not subjects:
            raise ValueError(f"{where} needs addresses or tls_subjects: MSH-3/4 alone are "
                             "whatever the sender writes")
        senders = []
        for s in item.get("senders") or ():
            app, _, fac = str(s).partition("^")
            if not app:
                raise ValueError(f"{where}: sender {s!r} is APPLICATION^FACILITY")
            senders.append((app, fac or "*"))
        client = item.get("client")
        if auth == "smart" and not client:
            raise ValueError(f"{where} needs a client (a registered client whose scopes "
                             "apply) when FHIRSVC_AUTH=smart")
        rules.append(Rule(client, nets, subjects, tuple(senders)))
    return tuple(rules)


def msh_senders(payload: bytes) -> list[tuple[str, str]]:
    """(MSH-3.1, MSH-4.1) of every message in `payload` (a batch has several)."""
    text = payload.decode("utf-8", "replace")
    out = []
    for seg in text.replace("\n", "\r").split("\r"):
        seg = seg.lstrip()
        if not seg.startswith("MSH") or len(seg) < 8:
            continue
        fs, comp = seg[3], seg[4]
        fields = seg.split(fs)
        app = fields[2].split(comp)[0] if len(fields) > 2 else ""
        fac = fields[3].split(comp)[0] if len(fields) > 3 else ""
        out.append((app, fac))
    return out


class MllpPolicy:
    def __init__(self, runtime, rules: tuple[Rule, ...], trusted: bool, tls=None):
        self.runtime = runtime
        self.rules = rules
        self.trusted = trusted            # no policy, loopback (or auth off, forced): as today
        self.tls = tls                    # (cert, key, client_ca or None) or None

    @classmethod
    def load(cls, runtime, host: str) -> "MllpPolicy":
        config = runtime.config
        auth = getattr(config, "auth", "off")
        rules = parse_rules(getattr(config, "mllp_senders", None), auth)
        cert, key = getattr(config, "mllp_tls_cert", None), getattr(config, "mllp_tls_key", None)
        ca = getattr(config, "mllp_tls_client_ca", None)
        if bool(cert) != bool(key):
            raise ValueError("FHIRSVC_MLLP_TLS_CERT and FHIRSVC_MLLP_TLS_KEY go together")
        if ca and not cert:
            raise ValueError("FHIRSVC_MLLP_TLS_CLIENT_CA (mutual TLS) needs "
                             "FHIRSVC_MLLP_TLS_CERT and _KEY")
        if any(r.subjects for r in rules) and not ca:
            raise ValueError("FHIRSVC_MLLP_SENDERS names tls_subjects: set "
                             "FHIRSVC_MLLP_TLS_CLIENT_CA so client certificates are verified")
        if not rules and not is_loopback(host):
            if auth == "smart" or not getattr(config, "auth_force_off", False):
                raise ValueError(
                    f"refusing to listen for MLLP on {host}: with no sender policy anyone who "
                    "can reach the port could store data. Set FHIRSVC_MLLP_SENDERS (source "
                    "addresses or client certificates mapped to registered clients), or listen "
                    "on 127.0.0.1" + ("" if auth == "smart" else
                                      ", or set FHIRSVC_AUTH_FORCE_OFF=1"))
        return cls(runtime, rules, trusted=not rules, tls=(cert, key, ca) if cert else None)

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        cert, key, ca = self.tls
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        if ca:
            ctx.load_verify_locations(cafile=ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    @staticmethod
    def peer(writer) -> Peer:
        name = writer.get_extra_info("peername")
        cert = writer.get_extra_info("peercert") or {}
        subjects = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
        subjects += [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
        return Peer(name[0] if name else None, tuple(subjects))

    def admit(self, payload: bytes, peer: Peer | None):
        """(context, None) to process the message under, or (None, AR ACK bytes)."""
        rt = self.runtime
        source = peer.address if peer else None
        if self.trusted:
            return rt.context(door=DOOR_MLLP, source=source), None
        senders = msh_senders(payload)
        rule = next((r for r in self.rules if peer is not None and r.admits_peer(peer)
                     and r.admits_senders(senders)), None)
        if rule is None:
            who = ", ".join(f"{a}^{f}" for a, f in senders) or "no MSH"
            return None, self._refuse(payload, source, f"No sender rule admits this connection "
                                      f"({source or 'unknown address'}"
                                      f"{', certificate ' + '/'.join(peer.subjects) if peer and peer.subjects else ''}"
                                      f") for {who}", None)
        if getattr(rt.config, "auth", "off") != "smart":
            return rt.context(door=DOOR_MLLP, source=source, caller=rule.client), None
        auth = getattr(rt.services, "auth", None)
        client = auth.client(rule.client) if auth is not None else None
        if client is None or client.disabled:
            return None, self._refuse(payload, source, f"The sender rule names client "
                                      f"{rule.client!r}, which is not registered (or disabled)",
                                      rule.client)
        from .scopes import split
        return rt.context(door=DOOR_MLLP, source=source, enforce=True, caller=client.client_id,
                          scopes=frozenset(split(client.scope)), patient=client.patient,
                          client_class=client.client_class), None

    def _refuse(self, payload: bytes, source: str | None, reason: str,
                client: str | None) -> bytes:
        from ..hl7v2 import Hl7v2Error
        from ..hl7v2.parse import parse
        try:
            msgs = parse(payload)
        except (Hl7v2Error, Exception):  # unreadable: an ACK without MSA-2
            msgs = []
        log.warning("MLLP message refused: %s", reason)
        ctx = self.runtime.context(door=DOOR_MLLP, source=source, caller=client)
        audit = getattr(self.runtime.services, "audit", None)
        if audit is not None:
            audit.log.record(ctx, "mllp-message", status=403, detail=reason, action="C",
                             query=", ".join(f"{m.message_type} {m.control_id} from {m.sender}"
                                             for m in msgs)[:500] or None)
        problems = [problem(INTERNAL, f"Not authorised: {reason}", None)]
        if not msgs:
            return build_ack(None, "AR", problems).encode()
        return "".join(build_ack(m, "AR", problems) for m in msgs).encode()


__all__ = ["MllpPolicy", "Peer", "Rule", "msh_senders", "parse_rules"]
