// fhir-kit-client against a running fhirsvc: node flow.mjs BASE_URL UNIQUE
// Prints one JSON object of what the server answered; tests/e2e/test_clients.py checks it.
import { Client } from 'fhir-kit-client';

const [base, ident] = process.argv.slice(2);
const client = new Client({ baseUrl: base });
const out = {};
const system = 'urn:e2e:fhir-kit-client';
const patient = {
  resourceType: 'Patient',
  identifier: [{ system, value: ident }],
  name: [{ family: 'Kit', given: ['Fhir'] }],
  gender: 'female',
};
const status = async (fn) => {
  try { await fn(); return 200; } catch (e) { return e.response ? e.response.status : String(e); }
};

const created = await client.create({ resourceType: 'Patient', body: patient });
out.id = created.id;
out.createdVersion = created.meta.versionId;
const read = await client.read({ resourceType: 'Patient', id: created.id });
out.readFamily = read.name[0].family;
const again = await client.create({
  resourceType: 'Patient', body: patient,
  options: { headers: { 'If-None-Exist': `identifier=${system}|${ident}` } },
});
out.conditionalId = again.id;
const found = await client.search({ resourceType: 'Patient',
                                    searchParams: { identifier: `${system}|${ident}` } });
out.searchTotal = found.total;
out.searchIds = (found.entry || []).map((e) => e.resource.id);
read.gender = 'other';
const updated = await client.update({ resourceType: 'Patient', id: created.id, body: read });
out.updatedVersion = updated.meta.versionId;
out.updatedGender = updated.gender;
const patched = await client.patch({
  resourceType: 'Patient', id: created.id,
  jsonPatch: [{ op: 'replace', path: '/name/0/family', value: 'Kitt' },
              { op: 'add', path: '/birthDate', value: '1990-02-03' }],
});
out.patchedFamily = patched.name[0].family;
out.patchedBirthDate = patched.birthDate;
out.patchedVersion = patched.meta.versionId;
out.badPatch = await status(() => client.patch({
  resourceType: 'Patient', id: created.id,
  jsonPatch: [{ op: 'remove', path: '/contact/7' }],
}));
const tx = await client.transaction({ body: {
  resourceType: 'Bundle', type: 'transaction',
  entry: [
    { fullUrl: 'urn:uuid:8f6c5b7e-0a7d-4c55-9f57-6a1de6f4c001',
      resource: { resourceType: 'Patient', name: [{ family: 'Tx' }] },
      request: { method: 'POST', url: 'Patient' } },
    { resource: { resourceType: 'Observation', status: 'final', code: { text: 'kit' },
                  subject: { reference: 'urn:uuid:8f6c5b7e-0a7d-4c55-9f57-6a1de6f4c001' } },
      request: { method: 'POST', url: 'Observation' } },
  ] } });
out.txStatuses = tx.entry.map((e) => e.response.status);
out.txLocations = tx.entry.map((e) => e.response.location);
const obsId = tx.entry[1].response.location.split('/')[1];
const obs = await client.read({ resourceType: 'Observation', id: obsId });
out.txObservationSubject = obs.subject.reference;
const batch = await client.batch({ body: {
  resourceType: 'Bundle', type: 'batch',
  entry: [{ request: { method: 'GET', url: `Patient/${created.id}` } },
          { request: { method: 'GET', url: 'Patient/does-not-exist-kit' } }] } });
out.batchStatuses = batch.entry.map((e) => e.response.status);
const hist = await client.history({ resourceType: 'Patient', id: created.id });
out.historyTotal = hist.total;
const meta = await client.capabilityStatement();
out.capabilityKind = meta.kind;
await client.delete({ resourceType: 'Patient', id: created.id });
out.afterDelete = await status(() => client.read({ resourceType: 'Patient', id: created.id }));
console.log(JSON.stringify(out));
