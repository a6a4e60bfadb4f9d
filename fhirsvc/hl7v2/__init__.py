"""HL7 v2 in: parsing (python-hl7), mappings as data (YAML), conversion to a transaction Bundle,
acknowledgements.

    message = parse(raw)                         # fhirsvc.hl7v2.parse: Message or Hl7v2Error
    conversion = Converter(mappings).convert(message)   # Bundle + warnings, or Hl7v2Error
    ack(message, "AA", problems)                 # the ACK text

Pure: nothing here touches storage; `services/hl7v2.py` hands the Bundle to the ingestion
pipeline and keeps the message log.
"""
from .errors import Hl7v2Error, Problem
from .parse import Message, parse

__all__ = ["Hl7v2Error", "Message", "Problem", "parse"]
