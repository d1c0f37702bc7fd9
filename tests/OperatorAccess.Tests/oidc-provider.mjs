// A real OpenID Connect provider on loopback for the operator sign-in tests (the oidc-provider package, pinned in
// package.json). Development interactions: any login with any password; the account's groups come from the login:
// "alice" is in GROUP_ALLOWED, "bob" only in "marketing". Consent is granted without asking (first-party client).
// Environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, GROUP_ALLOWED.
import Provider from 'oidc-provider';

const { PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, GROUP_ALLOWED } = process.env;
const groups = { alice: [GROUP_ALLOWED, 'everyone'], bob: ['marketing', 'everyone'] };

const provider = new Provider(`http://localhost:${PORT}`, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'profile', 'groups'],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: `${id} (test user)`, preferred_username: id, groups: groups[id] ?? [] };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile groups');
    grant.addOIDCClaims(['sub', 'name', 'preferred_username', 'groups']);
    await grant.save();
    return grant;
  },
});

provider.listen(Number(PORT), '127.0.0.1', () => console.log(`oidc-provider listening on ${PORT}`));
