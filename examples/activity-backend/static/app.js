// Plays the Embedded App SDK's part against this backend. Inside Discord, step 1 is
// `await discordSdk.commands.authorize({ client_id, response_type: "code", scope })`;
// offline, the mock Discord answers it at /mock/sdk/authorize.
"use strict";

const $ = (id) => document.getElementById(id);

function showError(message) {
  $("error").textContent = message;
}

function logLine(text) {
  const line = document.createElement("div");
  line.textContent = text;
  $("log").appendChild(line);
}

async function sdkAuthorize(config) {
  if (!config.mock_authorize) {
    throw new Error("Real Discord credentials are configured: open this page as an Activity inside Discord, where the Embedded App SDK supplies the code.");
  }
  const form = new URLSearchParams({ client_id: config.client_id, scope: config.scopes.join(",") });
  const user = $("user").value;
  if (user) form.set("user_id", user);
  const response = await fetch(config.mock_authorize, { method: "POST", body: form });
  const body = await response.json();
  if (!response.ok) throw new Error("authorize failed: " + (body.message || response.status));
  return body.code;
}

// The tokens of this session, in memory only (no cookies inside Discord's iframe).
let session = null;

// 429 (Discord's own) and 503 (nothing was sent: too busy, or Discord's global rate limit)
// both name a wait.
function failure(response, body, what) {
  if (response.status === 429 || response.status === 503) {
    const wait = body.retry_after === null || body.retry_after === undefined ? "a while" : body.retry_after + " s";
    return new Error((body.message || what) + " (try again in " + wait + ")");
  }
  return new Error(body.message || what);
}

async function exchange(code, scopes) {
  const response = await fetch("/api/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code, scopes }),
  });
  const body = await response.json();
  if (!response.ok) throw failure(response, body, "token exchange failed");
  return body;
}

// A refresh proves that this page holds the session: the websocket_token that came with the
// refresh token goes along as a Bearer token. The answer carries the next pair.
async function refresh() {
  const response = await fetch("/api/refresh", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "authorization": "Bearer " + session.websocket_token,
    },
    body: JSON.stringify({ refresh_token: session.refresh_token }),
  });
  const body = await response.json();
  if (!response.ok) throw failure(response, body, "refresh failed");
  session.access_token = body.access_token;
  session.refresh_token = body.refresh_token;
  if (body.websocket_token) session.websocket_token = body.websocket_token;
  $("refreshed").textContent = "tokens refreshed; the access token lasts " + body.expires_in + " s";
}

function showUser(auth) {
  const user = auth.user_data;
  $("display-name").textContent = user.global_name || user.username;
  $("username").textContent = user.username;
  $("user-id").textContent = user.id;
  $("scopes").textContent = auth.scope;
  if (user.avatar) $("avatar").src = user.avatar;
  $("login").hidden = true;
  $("me").hidden = false;
}

function openChat(token) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(scheme + "//" + location.host + "/ws?token=" + encodeURIComponent(token));
  $("chat").hidden = false;
  $("ws-state").textContent = "(connecting)";
  socket.onopen = () => { $("ws-state").textContent = "(connected)"; };
  socket.onclose = () => { $("ws-state").textContent = "(closed)"; };
  socket.onmessage = (event) => {
    try {
      const message = JSON.parse(event.data);
      logLine(message.from + ": " + message.text);
    } catch (_) {
      logLine(String(event.data));
    }
  };
  $("send").onsubmit = (event) => {
    event.preventDefault();
    const text = $("text").value;
    if (text && socket.readyState === WebSocket.OPEN) socket.send(text);
    $("text").value = "";
  };
}

async function main() {
  const config = await (await fetch("/api/sdk-config")).json();
  if (config.mock_authorize) {
    $("mode").hidden = false;
    $("mode").textContent = "Offline demo: the mock Discord at " + new URL(config.mock_authorize).origin +
      " plays the Discord client. Set DISCORD_CLIENT_ID to use discord.com.";
    for (const [id, name] of config.mock_users) {
      const option = document.createElement("option");
      option.value = id;
      option.textContent = name;
      $("user").appendChild(option);
    }
    $("user-pick").hidden = false;
  }
  $("authorize").onclick = async () => {
    showError("");
    try {
      const code = await sdkAuthorize(config);
      const auth = await exchange(code, config.scopes);
      session = auth;
      showUser(auth);
      openChat(auth.websocket_token);
    } catch (e) {
      showError(e.message);
    }
  };
  $("refresh").onclick = async () => {
    showError("");
    try {
      await refresh();
    } catch (e) {
      showError(e.message);
    }
  };
}

main().catch((e) => showError(e.message));
