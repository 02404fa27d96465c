'use strict';
// A local stand-in for the GitHub REST API, for the tests of the plan comment: an
// HTTP server on the loopback interface that keeps issue comments in memory and
// implements the endpoints comment.js uses (list with per_page/page and a Link
// header, create, update, the token's user), with switches for a failing first
// request, a read-only token and a token that may read /user (a personal token).

const http = require('node:http');
const { GITHUB_COMMENT_LIMIT } = require('../comment.js');

/** The token the stand-in accepts. */
const TOKEN = 'test-token';

/** The stand-in API. `comments` maps issue number to a list of comments. */
async function startApi({ failFirst = 0, readOnly = false, userLogin = null } = {}) {
  // Comments are written as the token's user: a personal token's login, else (the
  // workflow's GITHUB_TOKEN, which may not read /user) github-actions[bot].
  const author = userLogin || 'github-actions[bot]';
  const state = { comments: new Map(), nextId: 1000, requests: [], failuresLeft: failFirst };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const url = new URL(req.url, `http://${req.headers.host}`);
      state.requests.push({ method: req.method, path: url.pathname, query: url.search });
      const send = (status, body, headers = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(body === undefined ? '' : JSON.stringify(body));
      };
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { message: 'Bad credentials' });
      if (state.failuresLeft > 0) {
        state.failuresLeft -= 1;
        return send(502, { message: 'Server Error' });
      }
      let m;
      if (req.method === 'GET' && url.pathname === '/user') {
        if (!userLogin) return send(403, { message: 'Resource not accessible by integration' });
        return send(200, { login: userLogin, type: 'User' });
      }
      if (req.method === 'GET' && (m = url.pathname.match(/^\/repos\/([^/]+\/[^/]+)\/issues\/(\d+)\/comments$/))) {
        const all = state.comments.get(Number(m[2])) || [];
        const perPage = Math.min(Number(url.searchParams.get('per_page') || 30), 100);
        const page = Number(url.searchParams.get('page') || 1);
        const slice = all.slice((page - 1) * perPage, page * perPage);
        const headers = {};
        if (page * perPage < all.length) {
          const next = new URL(url);
          next.searchParams.set('page', String(page + 1));
          headers.link = `<${next}>; rel="next", <${next}>; rel="last"`;
        }
        return send(200, slice, headers);
      }
      if (req.method === 'POST' && (m = url.pathname.match(/^\/repos\/([^/]+\/[^/]+)\/issues\/(\d+)\/comments$/))) {
        if (readOnly) return send(403, { message: 'Resource not accessible by integration' });
        const body = JSON.parse(raw).body;
        if (body.length > GITHUB_COMMENT_LIMIT) {
          return send(422, { message: 'Validation Failed: body is too long (maximum is 65536 characters)' });
        }
        const created = { id: state.nextId++, body, html_url: `https://example.test/c/${state.nextId}`, user: { login: author } };
        const list = state.comments.get(Number(m[2])) || [];
        list.push(created);
        state.comments.set(Number(m[2]), list);
        return send(201, created);
      }
      if (req.method === 'PATCH' && (m = url.pathname.match(/^\/repos\/([^/]+\/[^/]+)\/issues\/comments\/(\d+)$/))) {
        if (readOnly) return send(403, { message: 'Resource not accessible by integration' });
        const body = JSON.parse(raw).body;
        if (body.length > GITHUB_COMMENT_LIMIT) {
          return send(422, { message: 'Validation Failed: body is too long (maximum is 65536 characters)' });
        }
        for (const list of state.comments.values()) {
          const found = list.find((c) => c.id === Number(m[2]));
          if (found) {
            found.body = body;
            return send(200, found);
          }
        }
        return send(404, { message: 'Not Found' });
      }
      return send(404, { message: `no route ${req.method} ${url.pathname}` });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    state,
    url: `http://127.0.0.1:${port}`,
    /** Adds comments by `author` (default: a person) to the pull request. */
    seed(issue, bodies, author = 'someone') {
      const list = state.comments.get(issue) || [];
      for (const body of bodies) list.push({ id: state.nextId++, body, html_url: `https://example.test/c/${state.nextId}`, user: { login: author } });
      state.comments.set(issue, list);
      return list;
    },
    writes() {
      return state.requests.filter((r) => r.method !== 'GET');
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

module.exports = { TOKEN, startApi };
