// Interop: Keyward driven by unmodified openid-client (discovery, client credentials,
// introspection, revocation) and jose (createRemoteJWKSet + jwtVerify with typ at+jwt).
// Run by bins/keyward/tests/it/interop.rs against a real `keyward serve`.
import assert from 'node:assert/strict';
import { Issuer } from 'openid-client';
import { createRemoteJWKSet, jwtVerify, errors } from 'jose';

const base = process.env.KEYWARD_URL;
const ok = (what) => console.log(`ok - ${what}`);

// Discovery (OpenID-style document at the issuer) + client credentials.
const issuer = await Issuer.discover(base);
assert.equal(issuer.metadata.issuer, base);
ok('openid-client discovery');
const client = new issuer.Client({
  client_id: process.env.CLIENT_ID,
  client_secret: process.env.CLIENT_SECRET,
  token_endpoint_auth_method: 'client_secret_basic',
});
const tokenSet = await client.grant({ grant_type: 'client_credentials' });
assert.ok(tokenSet.access_token);
assert.equal(tokenSet.token_type.toLowerCase(), 'bearer');
ok('openid-client client credentials (client_secret_basic)');

const postClient = new issuer.Client({
  client_id: process.env.CLIENT_ID,
  client_secret: process.env.CLIENT_SECRET,
  token_endpoint_auth_method: 'client_secret_post',
});
const posted = await postClient.grant({ grant_type: 'client_credentials' });
assert.ok(posted.access_token);
ok('openid-client client credentials (client_secret_post)');

// jose: remote JWK Set, issuer, audience and typ at+jwt.
const jwks = createRemoteJWKSet(new URL(issuer.metadata.jwks_uri));
const { payload, protectedHeader } = await jwtVerify(tokenSet.access_token, jwks, {
  issuer: issuer.metadata.issuer,
  audience: base,
  typ: 'at+jwt',
});
assert.equal(payload.client_id, process.env.CLIENT_ID);
assert.equal(protectedHeader.typ, 'at+jwt');
ok('jose jwtVerify (issuer, audience, typ at+jwt)');

// Another environment is another issuer: discovered at its own URL, and its tokens
// fail a default-environment issuer check.
const staging = await Issuer.discover(`${base}/environments/staging`);
assert.equal(staging.metadata.issuer, `${base}/environments/staging`);
ok('openid-client discovers the staging environment as its own issuer');
await assert.rejects(
  jwtVerify(process.env.STAGING_TOKEN, jwks, { issuer: base, audience: base, typ: 'at+jwt' }),
  errors.JWTClaimValidationFailed,
);
await jwtVerify(process.env.STAGING_TOKEN, jwks, {
  issuer: staging.metadata.issuer, audience: base, typ: 'at+jwt',
});
ok('jose refuses a staging token for the default issuer, accepts it for its own');

// Introspection and revocation through openid-client.
const introspector = new issuer.Client({
  client_id: process.env.INTROSPECTOR_ID,
  client_secret: process.env.INTROSPECTOR_SECRET,
});
assert.equal((await introspector.introspect(posted.access_token)).active, true);
await postClient.revoke(posted.access_token);
assert.deepEqual(await introspector.introspect(posted.access_token), { active: false });
ok('openid-client introspect and revoke');
console.log('node interop: all passed');
