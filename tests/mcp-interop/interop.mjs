// The official MCP TypeScript SDK client against examples/mcp-photos: its whole OAuth flow,
// then a step-up. Run by tests/e2e/tests/e2e/mcp_interop.rs with the MCP endpoint's URL:
//
//   node interop.mjs http://127.0.0.1:PORT/mcp
//
// The SDK does discovery, registration, PKCE, the token requests and the retries itself; this
// script plays the user: `redirectToAuthorization` completes the development server's consent
// form by HTTP (alice / wonderland), as a browser would, and keeps the code for `finishAuth`.
// Every request the SDK makes goes through a recording fetch, so that each step of the flow is
// checked on the wire. Exits non-zero on the first failed check.

import assert from 'node:assert/strict';
import http from 'node:http';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const mcpUrl = process.argv[2];
if (!mcpUrl) {
    console.error('usage: node interop.mjs http://127.0.0.1:PORT/mcp');
    process.exit(2);
}
// Loopback redirect URIs match on any port (RFC 8252 §7.3); nothing listens there, the script
// reads the code from the redirect itself.
const REDIRECT = 'http://127.0.0.1/callback';

let passed = 0;
function check(name, body) {
    body();
    passed += 1;
    console.log(`interop: ok: ${name}`);
}

/** Every HTTP exchange the SDK made, in order. */
const wire = [];
async function recordingFetch(input, init) {
    const url = typeof input === 'string' || input instanceof URL ? String(input) : input.url;
    const response = await fetch(input, init);
    wire.push({
        method: init?.method ?? (input instanceof Request ? input.method : 'GET'),
        url,
        status: response.status,
        challenge: response.headers.get('www-authenticate'),
    });
    return response;
}

/** Logs in as alice on the consent page at `url` and approves; returns the redirect's query. */
async function consent(url) {
    const page = await fetch(url, { redirect: 'manual' });
    assert.equal(page.status, 200, `the consent page at ${url}`);
    const cookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const html = await page.text();
    const csrf = html.split('name="csrf_token" value="')[1]?.split('"')[0];
    assert.ok(csrf, 'a CSRF token in the consent form');
    const answer = await fetch(new URL('/authorize', url), {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: new URLSearchParams({
            csrf_token: csrf,
            username: 'alice',
            password: 'wonderland',
            decision: 'approve',
        }),
    });
    assert.equal(answer.status, 303, 'approving redirects to the client');
    const location = new URL(answer.headers.get('location'));
    assert.equal(`${location.origin}${location.pathname}`, REDIRECT);
    return location.searchParams;
}

/** An OAuthClientProvider kept in memory, whose "user" approves by script. */
class ScriptedProvider {
    constructor(clientInformation) {
        this.client = clientInformation;
        this.authorizations = [];
    }
    get redirectUrl() {
        return REDIRECT;
    }
    get clientMetadata() {
        // No refresh_token grant: on 403 the SDK would first refresh, which cannot add a
        // scope, and then give up (see shared NOTES); without one it re-authorizes.
        return {
            client_name: 'mcp-interop',
            redirect_uris: [REDIRECT],
            grant_types: ['authorization_code'],
            response_types: ['code'],
            token_endpoint_auth_method: 'none',
        };
    }
    clientInformation() {
        return this.client;
    }
    saveClientInformation(information) {
        this.client = information;
    }
    tokens() {
        return this.saved;
    }
    saveTokens(tokens) {
        this.saved = tokens;
    }
    saveCodeVerifier(verifier) {
        this.verifier = verifier;
    }
    codeVerifier() {
        return this.verifier;
    }
    async redirectToAuthorization(url) {
        this.authorizations.push(url);
        const answer = await consent(url.href);
        assert.equal(answer.get('iss'), url.origin, 'RFC 9207: iss in the authorization response');
        this.code = answer.get('code');
        assert.ok(this.code, 'a code');
    }
}

function claims(token) {
    return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

function since(mark) {
    return wire.slice(mark);
}

function transportFor(provider) {
    return new StreamableHTTPClientTransport(new URL(mcpUrl), {
        authProvider: provider,
        fetch: recordingFetch,
    });
}

async function refusedForAuthorization(promise) {
    await assert.rejects(promise, (error) => error instanceof UnauthorizedError);
}

// A hang (a server that never answers, a prompt nobody sees) fails the run instead of holding
// the Rust test that started it.
setTimeout(() => {
    console.error('interop: timed out after 90 s');
    process.exit(1);
}, 90_000).unref();

const metadataUrl = `${new URL(mcpUrl).origin}/.well-known/oauth-protected-resource/mcp`;

// 1. Dynamic registration: 401 → RFC 9728 metadata → RFC 8414 metadata → RFC 7591
//    registration → PKCE authorization with `resource` → token → tools.
{
    const provider = new ScriptedProvider(undefined);
    const first = transportFor(provider);
    await refusedForAuthorization(new Client({ name: 'mcp-interop', version: '1' }).connect(first));
    const flow = since(0);
    check('401 names the metadata and the base scope', () => {
        assert.equal(flow[0].status, 401);
        assert.match(flow[0].challenge, new RegExp(`resource_metadata="${metadataUrl}"`));
        assert.match(flow[0].challenge, /scope="photos:read"/);
    });
    check('the SDK read the protected-resource and authorization-server metadata', () => {
        assert.ok(flow.some((x) => x.url === metadataUrl && x.status === 200), JSON.stringify(flow));
        assert.ok(
            flow.some((x) => x.url.includes('/.well-known/oauth-authorization-server') && x.status === 200) ||
                flow.some((x) => x.url.includes('/.well-known/openid-configuration') && x.status === 200),
            JSON.stringify(flow),
        );
    });
    check('it registered dynamically as a public client', () => {
        assert.ok(flow.some((x) => x.method === 'POST' && x.url.endsWith('/register') && x.status === 201));
        assert.ok(provider.client?.client_id, 'a client_id');
    });
    check('it asked for the base scope, for this resource, with S256', () => {
        const url = provider.authorizations[0];
        assert.equal(url.searchParams.get('scope'), 'photos:read');
        assert.equal(url.searchParams.get('resource'), mcpUrl);
        assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    });
    await first.finishAuth(provider.code);
    check('the token names this MCP endpoint as audience (RFC 8707)', () => {
        const token = claims(provider.saved.access_token);
        assert.equal(token.aud, mcpUrl);
        assert.equal(token.scope, 'photos:read');
        assert.equal(provider.saved.refresh_token, undefined);
    });

    const client = new Client({ name: 'mcp-interop', version: '1' });
    const transport = transportFor(provider);
    await client.connect(transport);
    const { tools } = await client.listTools();
    check('tools/list with the base scope', () => {
        assert.deepEqual(tools.map((t) => t.name).sort(), ['delete_photo', 'get_photo', 'list_photos', 'upload_photo']);
    });
    const listed = await client.callTool({ name: 'list_photos', arguments: {} });
    check('tools/call of a tool the base scope covers', () => {
        assert.equal(listed.isError, false);
        assert.deepEqual(JSON.parse(listed.content[0].text), []);
    });

    // 2. Step-up: upload_photo needs photos:write. The SDK gets 403 insufficient_scope, starts
    //    a new authorization for exactly the challenged scopes, and the call succeeds after it.
    const mark = wire.length;
    await refusedForAuthorization(client.callTool({ name: 'upload_photo', arguments: { title: 'cat' } }));
    check('403 insufficient_scope names the tool\'s scopes and the metadata', () => {
        const refused = since(mark).find((x) => x.status === 403);
        assert.ok(refused, JSON.stringify(since(mark)));
        assert.match(refused.challenge, /error="insufficient_scope"/);
        assert.match(refused.challenge, /scope="photos:read photos:write"/);
        assert.match(refused.challenge, new RegExp(`resource_metadata="${metadataUrl}"`));
    });
    check('the SDK re-authorized for the challenged scopes, same client', () => {
        const url = provider.authorizations[1];
        assert.equal(url.searchParams.get('scope'), 'photos:read photos:write');
        assert.equal(url.searchParams.get('resource'), mcpUrl);
        assert.ok(!since(mark).some((x) => x.url.endsWith('/register')), 'no second registration');
    });
    await transport.finishAuth(provider.code);
    const uploaded = await client.callTool({ name: 'upload_photo', arguments: { title: 'cat' } });
    check('the same call succeeds after re-authorizing', () => {
        assert.equal(uploaded.isError, false);
        const photo = JSON.parse(uploaded.content[0].text);
        assert.equal(photo.title, 'cat');
        assert.equal(photo.owner, 'alice');
    });
    await client.close();
}

// 3. Client ID metadata document: the client's id is the URL of its document, served here on
//    loopback http (the SDK's own `clientMetadataUrl` must be https, so the URL is handed over
//    as stored client information); no registration, the authorization server fetches it.
{
    let fetched = 0;
    const documentServer = http.createServer((request, response) => {
        fetched += 1;
        const { port } = documentServer.address();
        const id = `http://127.0.0.1:${port}/client.json`;
        response.writeHead(request.url === '/client.json' ? 200 : 404, { 'content-type': 'application/json' });
        response.end(
            JSON.stringify({
                client_id: id,
                client_name: 'mcp-interop (metadata document)',
                redirect_uris: [REDIRECT],
                grant_types: ['authorization_code'],
                response_types: ['code'],
                token_endpoint_auth_method: 'none',
            }),
        );
    });
    await new Promise((resolve) => documentServer.listen(0, '127.0.0.1', resolve));
    const documentUrl = `http://127.0.0.1:${documentServer.address().port}/client.json`;
    const provider = new ScriptedProvider({ client_id: documentUrl });
    const mark = wire.length;
    const first = transportFor(provider);
    await refusedForAuthorization(new Client({ name: 'mcp-interop', version: '1' }).connect(first));
    check('a client ID metadata document replaces registration', () => {
        assert.ok(!since(mark).some((x) => x.url.endsWith('/register')), JSON.stringify(since(mark)));
        assert.equal(provider.authorizations[0].searchParams.get('client_id'), documentUrl);
        assert.ok(fetched > 0, 'the authorization server fetched the document');
    });
    await first.finishAuth(provider.code);
    const client = new Client({ name: 'mcp-interop', version: '1' });
    await client.connect(transportFor(provider));
    const { tools } = await client.listTools();
    check('tools/list with the document client\'s token', () => {
        assert.equal(claims(provider.saved.access_token).client_id, documentUrl);
        assert.equal(tools.length, 4);
    });
    await client.close();
    documentServer.close();
}

console.log(`interop: ${passed} passed, 0 failed`);
