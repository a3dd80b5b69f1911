// A real OpenID provider for Keyward's federation tests: the npm package
// `oidc-provider` (OpenID Certified), configured for the client credentials grant with
// RFC 9068 JWT access tokens signed RS256.
//
//   node server.mjs <port>        clients from IDP_CLIENTS='[{"client_id":..,"client_secret":..}]'
//
// A resource indicator containing "short" gets tokens that live 2 seconds, one
// containing "opaque" gets opaque (stored, introspectable) tokens; the default resource
// is https://api.keyward.test. IDP_ALG=ES256 signs with a P-256 key instead of RSA
// (scripts/bench runs it as the peer server, in the same configuration as Keyward).
// Prints "idp listening on <issuer>" when ready.
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.IDP_CLIENTS || '[]');
const alg = process.env.IDP_ALG || 'RS256';
const { privateKey } = alg === 'ES256'
  ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
  : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'idp-key-1', use: 'sig', alg };

const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: alg,
    scope: 'api:read',
  })),
  jwks: { keys: [jwk] },
  scopes: ['api:read', 'api:admin'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://api.keyward.test',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => ({
        scope: 'api:read',
        audience: resourceIndicator,
        accessTokenTTL: resourceIndicator.includes('short') ? 2 : 300,
        accessTokenFormat: resourceIndicator.includes('opaque') ? 'opaque' : 'jwt',
        jwt: { sign: { alg } },
      }),
    },
  },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`idp listening on ${issuer}`);
});
