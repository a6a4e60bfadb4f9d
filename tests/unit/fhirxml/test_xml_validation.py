"""The validator, the registry (--ig) and the CLI read FHIR XML."""
from __future__ import annotations

import io
import tarfile

from fhirsvc import validate_cli
from fhirsvc.definitions.registry import DefinitionsError, Registry
from fhirsvc.validation import Validator

PROFILE_XML = b"""<StructureDefinition xmlns="http://hl7.org/fhir">
  <url value="http://x/sd/named"/><name value="Named"/><status value="active"/>
  <kind value="resource"/><abstract value="false"/><type value="Patient"/>
  <baseDefinition value="http://hl7.org/fhir/StructureDefinition/Patient"/>
  <derivation value="constraint"/>
  <differential><element id="Patient.name"><path value="Patient.name"/><min value="1"/></element>
  </differential>
</StructureDefinition>"""
PATIENT_XML = b"""<Patient xmlns="http://hl7.org/fhir"><birthDate value="1970-02-30"/></Patient>"""


def test_validator_reads_xml_and_locates_errors():
    issues = Validator().validate_bytes(PATIENT_XML)
    errs = [i for i in issues if i.severity == "error"]
    assert len(errs) == 1 and errs[0].expression == ("Patient.birthDate",)
    bad = Validator().validate_bytes(b"<Patient xmlns='http://hl7.org/fhir'><x/></Patient>")
    assert bad[0].severity == "fatal" and "Unknown element 'x'" in bad[0].message


def test_registry_loads_xml_profiles_from_files_folders_and_packages(tmp_path):
    (tmp_path / "ig").mkdir()
    (tmp_path / "ig" / "named.xml").write_bytes(PROFILE_XML)
    pkg = tmp_path / "p.tgz"
    with tarfile.open(pkg, "w:gz") as tf:
        info = tarfile.TarInfo("package/StructureDefinition-named.xml")
        info.size = len(PROFILE_XML)
        tf.addfile(info, io.BytesIO(PROFILE_XML))
    for path in (tmp_path / "ig" / "named.xml", tmp_path / "ig", pkg):
        reg = Registry()
        assert reg.load_path(path) == 1
        issues = Validator(reg).validate({"resourceType": "Patient"}, ["http://x/sd/named"])
        assert [i.message for i in issues if i.severity == "error"] == [
            "Patient.name: minimum required = 1, but only found 0"]
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<StructureDefinition xmlns='http://hl7.org/fhir'>")
    try:
        Registry().load_path(broken)
    except DefinitionsError as exc:
        assert "broken.xml" in str(exc) and "not valid FHIR XML" in str(exc)
    else:
        raise AssertionError("a broken XML definition must stop the load")


def test_cli_validates_xml_with_an_xml_ig(tmp_path, capsys):
    ig = tmp_path / "named.xml"
    ig.write_bytes(PROFILE_XML)
    pat = tmp_path / "p.xml"
    pat.write_bytes(b"<Patient xmlns='http://hl7.org/fhir'><active value='true'/></Patient>")
    assert validate_cli.main([str(pat)]) == 0
    assert validate_cli.main(["--ig", str(ig), "--profile", "http://x/sd/named", str(pat)]) == 1
    assert "Patient.name: minimum required" in capsys.readouterr().out
