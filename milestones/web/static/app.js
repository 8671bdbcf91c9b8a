// The contract room: sign in with a token, pick a contract, work in its room, and see the
// other party's actions live through the `notifications` subscription.
import { GraphQLClient, GraphQLRequestError, LiveConnection, wsUrl } from "./graphql.js";

const TOKEN_KEY = "milestones.token";
const ROOM_KEY = "milestones.room";
const TOAST_MS = 7000;

// --- operations --------------------------------------------------------------------------

const NOTIFICATION_FIELDS = `
  fragment NotificationFields on Notification {
    id cursor kind message createdAt readAt deadline contract { id title }
  }`;

const CHANGE_REQUEST_FIELDS = `
  fragment ChangeRequestFields on ChangeRequest {
    id status message createdAt respondedAt responseMessage
    requestedBy { id name }
    changes { kind changedFields title description dueDate amount milestone { id title position status } }
  }`;

const DISPUTE_FIELDS = `
  fragment DisputeFields on Dispute {
    id status amount message respondBy responseMessage openedAt resolvedAt
    openedBy { name }
    contract { id title currency }
    milestone { id title }
    refundRequest { id }
    resolution { kind releasedAmount refundedAmount message decidedBy { name } }
  }`;

const ME = `query Me { me { id name email teams { id name } } }`;

const TEAM = `query Team($id: ID!) {
  node(id: $id) { ... on Team { id name members { email role user { id name } } } }
}`;

const CONTRACTS = `query Contracts {
  contracts(first: 50) {
    edges { node {
      id title status viewerRole viewerTeamRole currency invitedEmail
      client { name email } freelancer { name }
      clientTeam { id name } freelancerTeam { id name }
      escrow { held }
      pendingChangeRequest { id }
    } }
  }
}`;

const ROOM = `query Room($id: ID!) {
  contract(id: $id) {
    id title status currency viewerRole viewerTeamRole createdAt acceptedAt endedAt invitedEmail
    client { id name email } freelancer { id name email }
    clientTeam { id name } freelancerTeam { id name }
    escrow { held available totalFunded totalReleased totalRefunded }
    viewerCan { requestChanges respondToChangeRequest withdrawChangeRequest }
    milestones {
      id position title description dueDate amount status
      fundedAmount releasedAmount refundedAmount version submittedAt reviewDeadline
      viewerCan { activate submit approve openDispute }
      submissions {
        id message outcome responseMessage submittedAt respondedAt
        attachments { id filename contentType size url }
      }
    }
    pendingChangeRequest { ...ChangeRequestFields }
    changeRequests(first: 1) { edges { node { ...ChangeRequestFields } } }
    pendingRefundRequest { id amount message respondBy milestone { title } }
    openDispute { ...DisputeFields }
    events(first: 100) { edges { node { id kind occurredAt actor { name } milestone { title } } } }
  }
}
${CHANGE_REQUEST_FIELDS}
${DISPUTE_FIELDS}`;

// A change request an email links to that is no longer the room's pending or latest one.
const LINKED_CHANGE_REQUEST = `query LinkedChangeRequest($id: ID!) {
  node(id: $id) { ... on ChangeRequest { ...ChangeRequestFields } }
}
${CHANGE_REQUEST_FIELDS}`;

const NOTIFICATIONS = `query Notifications {
  notifications(first: 30) { edges { cursor node { ...NotificationFields } } unreadCount }
}
${NOTIFICATION_FIELDS}`;

const LIVE_NOTIFICATIONS = `subscription LiveNotifications($after: String) {
  notifications(after: $after) { ...NotificationFields }
}
${NOTIFICATION_FIELDS}`;

const USER_ERRORS = `userErrors { code message field }`;

const RESPOND_TO_CHANGE_REQUEST = `mutation RespondToChangeRequest($input: RespondToChangeRequestInput!) {
  respondToChangeRequest(input: $input) { changeRequest { id status } ${USER_ERRORS} }
}`;
const RESPOND_TO_REFUND_REQUEST = `mutation RespondToRefundRequest($input: RespondToRefundRequestInput!) {
  respondToRefundRequest(input: $input) { refundRequest { id status } ${USER_ERRORS} }
}`;
const WITHDRAW_CHANGE_REQUEST = `mutation WithdrawChangeRequest($input: WithdrawChangeRequestInput!) {
  withdrawChangeRequest(input: $input) { changeRequest { id status } ${USER_ERRORS} }
}`;
const REQUEST_MILESTONE_CHANGES = `mutation RequestMilestoneChanges($input: RequestMilestoneChangesInput!) {
  requestMilestoneChanges(input: $input) { changeRequest { id status } ${USER_ERRORS} }
}`;
const ACTIVATE_MILESTONE = `mutation ActivateMilestone($input: ActivateMilestoneInput!) {
  activateMilestone(input: $input) { milestone { id status } ${USER_ERRORS} }
}`;
const SUBMIT_MILESTONE = `mutation SubmitMilestone($input: SubmitMilestoneInput!) {
  submitMilestone(input: $input) { milestone { id status } ${USER_ERRORS} }
}`;
const APPROVE_MILESTONE = `mutation ApproveMilestone($input: ApproveMilestoneInput!) {
  approveMilestone(input: $input) { milestone { id status } ${USER_ERRORS} }
}`;
const ACCEPT_CONTRACT = `mutation AcceptContract($input: AcceptContractInput!) {
  acceptContract(input: $input) { contract { id status } ${USER_ERRORS} }
}`;
const DECLINE_CONTRACT = `mutation DeclineContract($input: DeclineContractInput!) {
  declineContract(input: $input) { contract { id status } ${USER_ERRORS} }
}`;
const WITHDRAW_OFFER = `mutation WithdrawOffer($input: EndContractInput!) {
  endContract(input: $input) { contract { id status } ${USER_ERRORS} }
}`;
const OPEN_DISPUTE = `mutation OpenDispute($input: OpenDisputeInput!) {
  openDispute(input: $input) { dispute { id status } ${USER_ERRORS} }
}`;
const RESPOND_TO_DISPUTE = `mutation RespondToDispute($input: RespondToDisputeInput!) {
  respondToDispute(input: $input) { dispute { id status } ${USER_ERRORS} }
}`;
const RESOLVE_DISPUTE = `mutation ResolveDispute($input: ResolveDisputeInput!) {
  resolveDispute(input: $input) { dispute { id status } ${USER_ERRORS} }
}`;
const MEDIATION = `query Mediation {
  disputes(first: 50) { edges { node { ...DisputeFields } } }
}
${DISPUTE_FIELDS}`;
const MARK_ALL_READ = `mutation MarkNotificationsRead {
  markNotificationsRead(input: { all: true }) {
    count notifications { id readAt } unreadCount ${USER_ERRORS}
  }
}`;

// --- state -------------------------------------------------------------------------------

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  api: null,
  live: null,
  me: null,
  contracts: [],
  roomId: null,
  room: null,
  teamId: null, // the team page shown in place of a room
  team: null,
  notifications: [], // newest first
  seen: new Set(),
  unread: 0,
  lastCursor: null, // the newest notification cursor this page has: where a resubscribe resumes
  focus: {}, // what a link (an email's) opened the room at: { changeRequest | refundRequest | dispute }
  focusShown: false, // scrolled to it once: live re-renders do not scroll again
  linkedChangeRequest: null,
  draftChanges: null,
  submitDraft: { milestoneId: null, message: "", files: [] }, // survives live re-renders
  formErrors: {},
  mediator: false, // the token's `roles` claim names "mediator": the mediation view
  disputes: [], // the mediator's list
};

// Exposed for people poking at the page and for the browser test.
window.milestonesRoom = state;

// --- helpers -----------------------------------------------------------------------------

const $ = (selector) => document.querySelector(selector);

function esc(value) {
  return String(value ?? "")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

function money(amount, currency) {
  if (amount == null) return "—";
  const [whole, cents = "00"] = String(amount).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${grouped}.${cents} ${esc(currency ?? "")}`.trim();
}

function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function ago(iso) {
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return when(iso);
}

// "3 d 4 h left", "12 min left", "passed": how long until a deadline.
function countdown(iso) {
  if (!iso) return "";
  const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  if (seconds <= 0) return "passed";
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days > 0) return `${days} d ${hours} h left`;
  if (hours > 0) return `${hours} h ${minutes} min left`;
  if (minutes > 0) return `${minutes} min ${seconds % 60} s left`;
  return `${seconds} s left`;
}

// A deadline with its countdown, kept fresh by the ticker below (no re-render of the room).
function deadline(iso, testid, label) {
  if (!iso) return "";
  return `<span class="deadline" data-testid="${esc(testid)}">${esc(label)} ${esc(when(iso))} · <span class="countdown" data-deadline="${esc(iso)}">${esc(countdown(iso))}</span></span>`;
}

setInterval(() => {
  document.querySelectorAll("[data-deadline]").forEach((element) => {
    element.textContent = countdown(element.dataset.deadline);
  });
}, 1000);

function tokenRoles(token) {
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/")));
    return Array.isArray(payload.roles) ? payload.roles : [];
  } catch {
    return [];
  }
}

// A team party's name as a badge (a link to its page), next to the person or in their place.
function teamBadge(team, testid) {
  if (!team) return "";
  return `<button type="button" class="team-badge" data-team="${esc(team.id)}" data-testid="${testid}" title="Team">${esc(team.name)}</button>`;
}

// A team MEMBER sees the room; only OWNERs and ADMINs (or a person party) act for the side,
// except that a MEMBER of the freelancer's team may submit work.
function actsForSide(room) {
  return room.viewerTeamRole !== "MEMBER";
}

function humanKind(kind) {
  return kind.toLowerCase().replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase());
}

function toast(title, message, { error = false, onClick = null } = {}) {
  const element = document.createElement("div");
  element.className = `toast${error ? " error" : ""}`;
  element.dataset.testid = "toast";
  element.innerHTML = `<strong>${esc(title)}</strong>${esc(message)}`;
  element.addEventListener("click", () => {
    element.remove();
    onClick?.();
  });
  $("#toasts").prepend(element);
  setTimeout(() => element.remove(), TOAST_MS);
}

function showUserErrors(key, errors) {
  state.formErrors[key] = errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message));
  renderRoom();
  renderIncomingOffers();
}

async function mutate(key, query, variables) {
  state.formErrors[key] = [];
  try {
    const data = await state.api.request(query, variables);
    const payload = Object.values(data)[0];
    if (payload?.userErrors?.length) {
      showUserErrors(key, payload.userErrors);
      return null;
    }
    return payload;
  } catch (error) {
    handleRequestError(error);
    return null;
  }
}

function handleRequestError(error) {
  if (error instanceof GraphQLRequestError && error.code === "UNAUTHENTICATED") {
    signOut("Your token was refused: sign in again.");
    return;
  }
  toast("Something went wrong", error.message, { error: true });
}

// --- links ---------------------------------------------------------------------------------

// Emails link to `/app/#contract=<id>` plus `&changeRequest=<id>`, `&refundRequest=<id>` or
// `&dispute=<id>` (the API's global ids): the page opens that room, at that item.
const FOCUS_KEYS = ["changeRequest", "refundRequest", "dispute"];

function linkFromHash(hash = location.hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const focus = {};
  for (const key of FOCUS_KEYS) if (params.get(key)) focus[key] = params.get(key);
  return { contract: params.get("contract"), focus };
}

function hashFor(contractId, focus) {
  const params = new URLSearchParams({ contract: contractId });
  for (const key of FOCUS_KEYS) if (focus[key]) params.set(key, focus[key]);
  return `#${params}`;
}

// --- sign in -----------------------------------------------------------------------------

async function renderSignIn(notice = "") {
  setChrome(false);
  $("#view").innerHTML = `
    <div class="card signin" data-testid="sign-in">
      <h1>Contract room</h1>
      <p class="muted">Milestones, escrow and change requests of your contracts, live.</p>
      ${notice ? `<p class="errors" data-testid="sign-in-notice">${esc(notice)}</p>` : ""}
      <div id="demo-block" hidden>
        <h2>Demo users</h2>
        <p class="muted small">Created by <code>milestones demo</code> (development only).</p>
        <div class="demo-users" id="demo-users"></div>
        <div class="divider">or</div>
      </div>
      <form id="token-form">
        <label for="token-input">Paste a bearer token (<code>milestones token SUB</code>)</label>
        <textarea id="token-input" name="token" data-testid="token-input" placeholder="eyJhbGciOiJIUzI1NiIs…" required></textarea>
        <div class="actions" style="margin-top:10px">
          <button class="btn" type="submit" data-testid="sign-in-button">Sign in</button>
        </div>
      </form>
    </div>`;
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("#token-input").value.trim().replace(/^Bearer\s+/i, "");
    if (token) signIn(token);
  });
  try {
    const response = await fetch("demo-tokens", { headers: { accept: "application/json" } });
    if (!response.ok) return;
    const { users } = await response.json();
    const container = $("#demo-users");
    if (!container || !users?.length) return;
    container.innerHTML = users
      .map(
        (user, index) =>
          `<button class="btn btn-quiet" type="button" data-demo="${index}">
             Sign in as ${esc(user.name)} <span class="muted">(${esc(user.role)})</span>
           </button>`,
      )
      .join("");
    container.querySelectorAll("[data-demo]").forEach((button) =>
      button.addEventListener("click", () => signIn(users[Number(button.dataset.demo)].token)),
    );
    $("#demo-block").hidden = false;
  } catch {
    // No demo users offered: pasting a token still works.
  }
}

async function signIn(token) {
  state.token = token;
  state.api = new GraphQLClient({ url: "/graphql", token });
  try {
    state.me = (await state.api.request(ME)).me;
  } catch (error) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    const refused = error instanceof GraphQLRequestError && error.code === "UNAUTHENTICATED";
    renderSignIn(refused ? "That token was refused." : error.message);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  setChrome(true);
  $("#whoami").textContent = state.me.name || state.me.email || "Signed in";
  state.mediator = tokenRoles(token).includes("mediator");
  await loadNotifications();
  startLive();
  if (state.mediator) {
    await loadMediation();
    return;
  }
  await loadContracts();
  const link = linkFromHash();
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("team")) return openTeam(hash.get("team"));
  const wanted = link.contract || sessionStorage.getItem(ROOM_KEY);
  const first = state.contracts.find((c) => c.id === wanted) ?? state.contracts[0];
  if (first) await openRoom(first.id, first.id === link.contract ? link.focus : {});
  else renderLayout();
}

function signOut(notice = "") {
  state.live?.close();
  Object.assign(state, {
    token: null, api: null, live: null, me: null, contracts: [], roomId: null, room: null,
    teamId: null, team: null,
    notifications: [], seen: new Set(), unread: 0, lastCursor: null, draftChanges: null,
    mediator: false, disputes: [],
    focus: {}, focusShown: false, linkedChangeRequest: null,
  });
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(ROOM_KEY);
  $("#notifications-panel").hidden = true;
  renderSignIn(notice);
}

function setChrome(signedIn) {
  $("#bell").hidden = !signedIn;
  $("#sign-out").hidden = !signedIn;
  $("#connection").hidden = !signedIn;
  if (!signedIn) $("#whoami").textContent = "";
}

// --- live notifications ------------------------------------------------------------------

const CONNECTION_LABELS = {
  connecting: ["Connecting…", "pill-wait"],
  live: ["Live", "pill-live"],
  reconnecting: ["Reconnecting…", "pill-wait"],
  unauthorized: ["Token refused", "pill-bad"],
  closed: ["Offline", "pill-muted"],
};

function setConnection(status) {
  const [label, style] = CONNECTION_LABELS[status] ?? CONNECTION_LABELS.closed;
  const pill = $("#connection");
  pill.textContent = label;
  pill.className = `pill ${style}`;
  pill.dataset.status = status;
}

function startLive() {
  let wasLive = false;
  state.live = new LiveConnection({
    url: wsUrl("/graphql"),
    token: state.token,
    onStatus: (status) => {
      setConnection(status);
      if (status === "live" && wasLive) {
        // Back after a drop: the subscription resumes by cursor; the room may have moved.
        if (state.mediator) loadMediation().catch(handleRequestError);
        else {
          if (state.roomId) loadRoom().catch(handleRequestError);
          loadContracts().catch(handleRequestError);
        }
      }
      if (status === "live") wasLive = true;
      if (status === "unauthorized") signOut("Your token was refused by the live connection.");
    },
  });
  state.live.subscribe({
    query: LIVE_NOTIFICATIONS,
    // Asked again on every (re)subscribe: resume after the newest notification we have.
    // With graphql-ws instead, which resubscribes with the payload object it was given, keep
    // the cursor in that object (README, "Resuming with graphql-ws"):
    //   const request = { query: LIVE_NOTIFICATIONS, variables: { after: state.lastCursor } };
    //   client.subscribe(request, { next: ({ data }) => {
    //     request.variables.after = data.notifications.cursor; // the automatic retry resumes here
    //     receiveNotification(data.notifications);
    //   } });
    variables: () => (state.lastCursor ? { after: state.lastCursor } : {}),
    onNext: (data) => receiveNotification(data.notifications),
    onError: (errors) => toast("Live updates stopped", errors?.[0]?.message ?? "error", { error: true }),
  });
}

function receiveNotification(notification) {
  state.lastCursor = notification.cursor;
  if (state.seen.has(notification.id)) return;
  state.seen.add(notification.id);
  state.notifications.unshift(notification);
  state.notifications.length = Math.min(state.notifications.length, 100);
  if (!notification.readAt) state.unread += 1;
  renderNotifications();
  // A notification's contract is null once the viewer may no longer see the room.
  const contractId = notification.contract?.id;
  toast(humanKind(notification.kind), notification.message, {
    onClick: () => contractId && openRoom(contractId),
  });
  if (state.mediator) {
    loadMediation().catch(handleRequestError);
    return;
  }
  if (contractId && contractId === state.roomId) loadRoom().catch(handleRequestError);
  loadContracts().catch(handleRequestError);
}

async function loadNotifications() {
  const data = await state.api.request(NOTIFICATIONS);
  const edges = data.notifications.edges;
  state.notifications = edges.map((edge) => edge.node);
  state.seen = new Set(state.notifications.map((n) => n.id));
  // Newest first: the first cursor is where a live subscription picks up.
  if (edges.length && !state.lastCursor) state.lastCursor = edges[0].cursor;
  state.unread = data.notifications.unreadCount;
  renderNotifications();
}

function renderNotifications() {
  const badge = $("#unread-count");
  badge.hidden = state.unread === 0;
  badge.textContent = state.unread > 99 ? "99+" : String(state.unread);
  $("#notification-list").innerHTML =
    state.notifications
      .map(
        (n) => `<li class="${n.readAt ? "" : "unread"}" ${n.contract ? `data-contract="${esc(n.contract.id)}"` : ""} data-testid="notification">
          ${esc(n.message)}${n.deadline ? ` <span class="countdown" data-deadline="${esc(n.deadline)}">${esc(countdown(n.deadline))}</span>` : ""}<time datetime="${esc(n.createdAt)}">${esc(ago(n.createdAt))}</time></li>`,
      )
      .join("") || `<li class="muted">Nothing yet.</li>`;
}

async function markAllRead() {
  const payload = await mutate("notifications", MARK_ALL_READ, {});
  if (!payload) return;
  // The payload says what it marked and what is left: no refetch.
  const readAt = new Map(payload.notifications.map((n) => [n.id, n.readAt]));
  state.notifications.forEach((n) => (n.readAt ??= readAt.get(n.id) ?? null));
  state.unread = payload.unreadCount;
  renderNotifications();
}

// --- contracts and room ------------------------------------------------------------------

async function loadContracts() {
  const data = await state.api.request(CONTRACTS);
  state.contracts = data.contracts.edges.map((edge) => edge.node);
  renderContracts();
}

async function openRoom(id, focus = {}) {
  state.roomId = id;
  state.teamId = null;
  state.team = null;
  state.draftChanges = null;
  state.formErrors = {};
  state.focus = focus;
  state.focusShown = false;
  state.linkedChangeRequest = null;
  sessionStorage.setItem(ROOM_KEY, id);
  history.replaceState(null, "", hashFor(id, focus));
  renderLayout();
  await loadRoom();
}

async function loadRoom() {
  const id = state.roomId;
  const data = await state.api.request(ROOM, { id });
  if (id !== state.roomId) return; // another room was opened meanwhile
  state.room = data.contract;
  await loadLinkedChangeRequest();
  if (id !== state.roomId) return;
  renderRoom();
  renderContracts();
  showFocus();
}

async function loadLinkedChangeRequest() {
  const wanted = state.focus.changeRequest;
  const room = state.room;
  const shown = [room.pendingChangeRequest?.id, room.changeRequests.edges[0]?.node.id];
  if (!wanted || shown.includes(wanted)) {
    state.linkedChangeRequest = null;
    return;
  }
  const data = await state.api.request(LINKED_CHANGE_REQUEST, { id: wanted });
  state.linkedChangeRequest = data.node?.changes ? data.node : null;
}

// Scroll to what the link named, once per opening (live updates re-render without scrolling).
function showFocus() {
  if (state.focusShown) return;
  const key = FOCUS_KEYS.find((k) => state.focus[k]);
  if (!key) return;
  const target =
    document.querySelector(`[data-focus-id="${CSS.escape(state.focus[key])}"]`) ??
    (key === "dispute" ? document.querySelector('[data-section="dispute"], [data-testid="dispute"]') : null);
  if (!target) return;
  state.focusShown = true;
  target.classList.add("focused");
  target.scrollIntoView({ block: "center" });
}

window.addEventListener("hashchange", () => {
  // Another email link opened in this tab: that room, at that item.
  const link = linkFromHash();
  if (state.api && link.contract) openRoom(link.contract, link.focus).catch(handleRequestError);
});

function renderLayout() {
  $("#view").innerHTML = `
    <div class="layout">
      <aside>
        <div class="card" data-testid="incoming-offers" id="incoming-offers" hidden></div>
        <div class="card" data-testid="contracts">
          <div class="card-head"><h2>Your contracts</h2></div>
          <ul class="contract-list" id="contract-list"></ul>
          <div class="card-head teams-head"><h2>Your teams</h2></div>
          <ul class="contract-list" id="team-list" data-testid="teams"></ul>
        </div>
      </aside>
      <section id="room" data-testid="room">
        <div class="card"><p class="muted">${state.contracts.length ? "Loading the room…" : "No contracts yet: a client starts one with <code>createContract</code>."}</p></div>
      </section>
    </div>`;
  renderContracts();
  renderTeams();
  if (state.teamId) renderTeam();
  else if (state.room?.id === state.roomId) renderRoom();
}

function renderTeams() {
  const list = $("#team-list");
  if (!list) return;
  const teams = state.me?.teams ?? [];
  list.innerHTML =
    teams
      .map(
        (t) => `<li><button type="button" class="contract-link ${t.id === state.teamId ? "selected" : ""}" data-team="${esc(t.id)}" data-testid="team-link">
          <span class="title">${esc(t.name)}</span></button></li>`,
      )
      .join("") || `<li class="muted small">No teams.</li>`;
}

async function openTeam(id) {
  state.teamId = id;
  state.roomId = null;
  history.replaceState(null, "", `#team=${encodeURIComponent(id)}`);
  renderLayout();
  const data = await state.api.request(TEAM, { id });
  if (id !== state.teamId) return;
  state.team = data.node;
  renderTeam();
  renderTeams();
}

function renderTeam() {
  const container = $("#room");
  const team = state.team;
  if (!container || !team || team.id !== state.teamId) {
    if (container && state.teamId && state.team === null) container.innerHTML = `<div class="card"><p class="muted">This team is not yours to see.</p></div>`;
    return;
  }
  const rows = team.members
    .map(
      (m) => `<tr data-testid="team-member">
        <td><strong>${esc(m.user?.name ?? m.email ?? "—")}</strong>${m.user?.name && m.email ? `<span class="desc">${esc(m.email)}</span>` : ""}</td>
        <td><span class="status status-${esc(m.role)}" data-testid="team-member-role">${esc(m.role)}</span></td>
        <td class="muted small">${m.user ? "" : "invited: joins when they first sign in"}</td>
      </tr>`,
    )
    .join("");
  container.innerHTML = `<div class="card" data-testid="team-page">
    <div class="card-head"><h1 data-testid="team-name">${esc(team.name)}</h1><span class="muted small">${team.members.length} member${team.members.length === 1 ? "" : "s"}</span></div>
    <table>
      <thead><tr><th>Member</th><th>Role</th><th></th></tr></thead>
      <tbody>${rows}</tbody>
    </table>
    <p class="muted small">OWNERs and ADMINs act for the team on its contracts and manage its members; MEMBERs see its contract rooms and get their notifications (on an agency's contracts they may also submit work).</p>
  </div>`;
}

// Offers waiting for the viewer's answer (they are the freelancer party of an OFFERED contract).
function incomingOffers() {
  return state.contracts.filter((c) => c.status === "OFFERED" && c.viewerRole === "FREELANCER");
}

function renderIncomingOffers() {
  const card = $("#incoming-offers");
  if (!card) return;
  const offers = incomingOffers();
  card.hidden = offers.length === 0;
  card.innerHTML = `
    <div class="card-head"><h2>Incoming offers</h2><span class="badge-inline">${offers.length}</span></div>
    <ul class="offer-list">
      ${offers
        .map(
          (c) => `<li data-testid="incoming-offer">
            <button type="button" class="link-button" data-open="${esc(c.id)}"><strong>${esc(c.title)}</strong></button>
            <span class="meta small">from ${esc(c.client.name ?? c.client.email ?? "—")}</span>
            <span class="actions">
              ${c.viewerTeamRole === "MEMBER" ? `<span class="muted small">Your team's owners and admins answer it.</span>` : `<button type="button" class="primary" data-action="accept-offer" data-id="${esc(c.id)}" data-testid="accept-offer">Accept</button>
              <button type="button" data-action="decline-offer" data-id="${esc(c.id)}" data-testid="decline-offer">Decline</button>`}
            </span>
          </li>`,
        )
        .join("")}
    </ul>
    ${errorsOf("offer")}`;
}

function partyName(contract) {
  if (contract.viewerRole === "CLIENT") {
    return contract.freelancer?.name ?? contract.freelancer?.email ?? contract.invitedEmail ?? contract.freelancerTeam?.name ?? "—";
  }
  return contract.client.name ?? contract.client.email ?? "—";
}

function renderContracts() {
  renderIncomingOffers();
  const list = $("#contract-list");
  if (!list) return;
  list.innerHTML =
    state.contracts
      .map((c) => {
        const otherTeam = c.viewerRole === "CLIENT" ? c.freelancerTeam : c.clientTeam;
        const other = otherTeam ? otherTeam.name : partyName(c);
        return `<li><button type="button" class="contract-link ${c.id === state.roomId ? "selected" : ""}" data-open="${esc(c.id)}" data-testid="contract-link">
          <span class="title">${esc(c.title)}</span>
          <span class="meta">${c.viewerRole === "CLIENT" ? "Freelancer" : "Client"}: ${esc(other ?? "—")} · ${money(c.escrow.held, c.currency)} held
          ${c.pendingChangeRequest ? " · <strong>change request</strong>" : ""}${c.status === "ENDED" ? " · ended" : ""}${c.status === "OFFERED" ? " · <strong>offer</strong>" : ""}${c.status === "DECLINED" ? " · declined" : ""}</span>
        </button></li>`;
      })
      .join("") || `<li class="muted small">No contracts yet.</li>`;
}

function renderRoom() {
  const container = $("#room");
  const room = state.room;
  if (!container || !room || room.id !== state.roomId) return;
  const isClient = room.viewerRole === "CLIENT";
  const isMediator = room.viewerRole === "MEDIATOR";
  const refund = room.pendingRefundRequest;
  const ownTeam = isClient ? room.clientTeam : room.freelancerTeam;
  const otherTeam = isClient ? room.freelancerTeam : room.clientTeam;
  container.innerHTML = `
    <div class="card" data-testid="room-header">
      <div class="room-head">
        <div>
          <h1 data-testid="room-title">${esc(room.title)}</h1>
          <div class="parties">
            <span>You are the <strong>${isMediator ? "mediator" : isClient ? "client" : "freelancer"}</strong>${ownTeam ? ` for ${teamBadge(ownTeam, isClient ? "client-team-badge" : "freelancer-team-badge")} <span class="muted small" data-testid="viewer-team-role">(${esc(room.viewerTeamRole)})</span>` : ""}</span>
            <span>${isClient ? "Freelancer" : "Client"}: ${otherTeam ? teamBadge(otherTeam, isClient ? "freelancer-team-badge" : "client-team-badge") : ""} <strong>${esc(partyName(room))}</strong></span>
            <span>Since ${esc(when(room.createdAt))}</span>
          </div>
        </div>
        <span class="status status-${esc(room.status)}" data-testid="room-status">${esc(room.status)}</span>
      </div>
    </div>
    ${room.status === "OFFERED" ? renderOffer(room, isClient) : ""}
    <div class="card" data-testid="escrow">
      <div class="card-head"><h2>Escrow</h2><span class="muted small">${esc(room.currency)}</span></div>
      <div class="escrow">
        <div class="held"><span class="label">Held</span><span class="value" data-testid="escrow-held">${money(room.escrow.held)}</span></div>
        <div><span class="label">Available</span><span class="value">${money(room.escrow.available)}</span></div>
        <div><span class="label">Funded</span><span class="value">${money(room.escrow.totalFunded)}</span></div>
        <div><span class="label">Released</span><span class="value">${money(room.escrow.totalReleased)}</span></div>
        <div><span class="label">Refunded</span><span class="value">${money(room.escrow.totalRefunded)}</span></div>
      </div>
      ${renderRefundRequest(room, isClient)}
      ${refund && !isClient && !isMediator && !room.openDispute ? renderDisputeForm("refund", refund.id, "Dispute this refund request") : ""}
    </div>
    ${renderDispute(room, isClient)}
    ${renderMilestones(room, isClient)}
    ${renderSubmitForm(room, isClient)}
    ${renderSubmissions(room)}
    ${renderChangeRequest(room)}
    ${room.viewerCan.requestChanges ? renderChangeForm(room) : ""}
    ${renderTimeline(room)}`;
}

function renderOffer(room, isClient) {
  if (!actsForSide(room)) {
    return `<div class="card" data-testid="offer">
      <p>${isClient ? "Offered" : "An offer to your team"}: waiting for ${isClient ? "the freelancer's" : "your team's owners and admins'"} answer.</p>
    </div>`;
  }
  if (isClient) {
    return `<div class="card" data-testid="offer">
      <p>Offered to <strong>${esc(partyName(room))}</strong>: waiting for their answer. You can prepare the milestones meanwhile.</p>
      <div class="actions"><button type="button" data-action="withdraw-offer" data-id="${esc(room.id)}" data-testid="withdraw-offer">Withdraw the offer</button></div>
      ${errorsOf("offer")}
    </div>`;
  }
  return `<div class="card" data-testid="offer">
    <p><strong>${esc(partyName(room))}</strong> offers you this contract. Funding and work start once you accept.</p>
    <textarea id="offer-message" rows="2" placeholder="A message for the client (optional)"></textarea>
    <div class="actions">
      <button type="button" class="primary" data-action="accept-offer" data-id="${esc(room.id)}" data-testid="room-accept-offer">Accept</button>
      <button type="button" data-action="decline-offer" data-id="${esc(room.id)}" data-testid="room-decline-offer">Decline</button>
    </div>
    ${errorsOf("offer")}
  </div>`;
}

function renderRefundRequest(room, isClient) {
  const refund = room.pendingRefundRequest;
  if (!refund) return "";
  const about = refund.milestone ? ` for “${esc(refund.milestone.title)}”` : "";
  const actions = isClient || room.viewerRole !== "FREELANCER" ? "" : `
    <div class="actions" style="margin-top:8px">
      <button class="btn btn-small btn-ok" data-action="accept-refund" data-id="${esc(refund.id)}" data-testid="accept-refund">Accept refund</button>
      <button class="btn btn-small btn-bad" data-action="decline-refund" data-id="${esc(refund.id)}" data-testid="decline-refund">Decline</button>
    </div>`;
  return `<div class="refund-request" data-testid="pending-refund" data-focus-id="${esc(refund.id)}">
    <p class="small">Refund of ${money(refund.amount, room.currency)}${about} is waiting for the freelancer. ${deadline(refund.respondBy, "refund-deadline", "Answer by")}</p>
    ${refund.message ? `<blockquote>${esc(refund.message)}</blockquote>` : ""}
    ${actions}
    ${errorsOf("refundRequest")}
  </div>`;
}

function renderMilestones(room, isClient) {
  const blocked = Boolean(room.pendingChangeRequest);
  // The server decides whether the viewer may dispute (viewerCan: the mutation's own rule).
  const disputable = room.milestones.find((m) => m.viewerCan.openDispute);
  const rows = room.milestones
    .map((m) => {
      // The server decides what the viewer may do (viewerCan: the mutations' own rules).
      let action = "";
      if (m.viewerCan.activate) {
        action = `<button class="btn btn-small" data-action="activate" data-id="${esc(m.id)}">Fund &amp; activate</button>`;
      } else if (m.viewerCan.approve) {
        action = `<button class="btn btn-small btn-ok" data-action="approve" data-id="${esc(m.id)}">Approve &amp; release</button>`;
      } else if (m.viewerCan.submit) {
        action = `<span class="muted small">Submit below</span>`;
      }
      return `<tr data-testid="milestone-row">
        <td class="num muted">${m.position}</td>
        <td><strong>${esc(m.title)}</strong>${m.description ? `<span class="desc">${esc(m.description)}</span>` : ""}</td>
        <td class="muted">${esc(m.dueDate ?? "—")}</td>
        <td class="num">${money(m.amount)}</td>
        <td><span class="status status-${esc(m.status)}">${esc(m.status)}</span>${m.status === "SUBMITTED" ? `<span class="desc">${deadline(m.reviewDeadline, "review-countdown", isClient ? "Review by" : "Client reviews by")}</span>` : ""}</td>
        <td class="num">${m.status === "UPCOMING" ? "" : `${money(m.fundedAmount)} funded`}${Number(m.releasedAmount) > 0 ? `<span class="desc">${money(m.releasedAmount)} released</span>` : ""}</td>
        <td>${action}</td>
      </tr>`;
    })
    .join("");
  return `<div class="card" data-testid="milestones">
    <div class="card-head"><h2>Milestones</h2>${blocked && isClient ? `<span class="muted small">Editing is paused while a change request is pending.</span>` : ""}</div>
    <table>
      <thead><tr><th class="num">#</th><th>Milestone</th><th>Due</th><th class="num">Amount</th><th>Status</th><th class="num">Escrow</th><th></th></tr></thead>
      <tbody>${rows || `<tr><td colspan="7" class="muted">No milestones yet.</td></tr>`}</tbody>
    </table>
    ${errorsOf("milestones")}
    ${disputable ? renderDisputeForm("milestone", disputable.id, `Dispute the payment of “${disputable.title}”`) : ""}
  </div>`;
}

// The freelancer may dispute the active milestone once it was submitted (the client withholds
// payment), or a pending refund request (instead of answering it).
function renderDisputeForm(kind, id, label) {
  return `<form class="dispute-form" data-dispute-kind="${esc(kind)}" data-id="${esc(id)}" data-testid="dispute-form">
    <label for="dispute-message-${esc(kind)}">${esc(label)}</label>
    <input id="dispute-message-${esc(kind)}" data-testid="dispute-message" placeholder="Why: what was delivered, what was agreed" />
    <div class="actions" style="margin-top:8px"><button class="btn btn-bad btn-small" type="submit" data-testid="open-dispute">Open a dispute</button></div>
    ${errorsOf("dispute")}
  </form>`;
}

function renderDispute(room, isClient) {
  const dispute = room.openDispute;
  if (!dispute) return "";
  const awaiting = dispute.status === "AWAITING_CLIENT";
  let actions = "";
  if (awaiting && isClient) {
    actions = `
      <label for="dispute-response">Reply (optional)</label>
      <input id="dispute-response" data-testid="dispute-response" placeholder="What you think" />
      <div class="actions" style="margin-top:10px">
        <button class="btn btn-ok" data-action="accept-dispute" data-id="${esc(dispute.id)}" data-testid="accept-dispute">Accept: release ${money(dispute.amount, room.currency)}</button>
        <button class="btn btn-bad" data-action="reject-dispute" data-id="${esc(dispute.id)}" data-testid="reject-dispute">Reject: ask a mediator</button>
      </div>`;
  } else if (awaiting) {
    actions = `<p class="muted small">Waiting for the client; unanswered, the amount is released to you.</p>`;
  } else {
    actions = `<p class="muted small">A mediator decides how the amount is split.</p>`;
  }
  return `<div class="card dispute pending" data-testid="open-dispute-card">
    <div class="card-head">
      <h2>Dispute over ${money(dispute.amount, room.currency)}</h2>
      <span class="status status-${esc(dispute.status)}" data-testid="dispute-status">${esc(dispute.status)}</span>
    </div>
    <div class="muted small">Opened by ${esc(dispute.openedBy?.name ?? "the freelancer")}, ${esc(when(dispute.openedAt))}${dispute.milestone ? ` · on “${esc(dispute.milestone.title)}”` : ""}</div>
    ${dispute.message ? `<blockquote>${esc(dispute.message)}</blockquote>` : ""}
    ${awaiting ? `<p class="small">${deadline(dispute.respondBy, "dispute-deadline", "The client answers by")}</p>` : ""}
    ${dispute.responseMessage ? `<p class="small">Client: <em>${esc(dispute.responseMessage)}</em></p>` : ""}
    ${actions}
    ${errorsOf("dispute")}
  </div>`;
}

// --- mediation ---------------------------------------------------------------------------

async function loadMediation() {
  const data = await state.api.request(MEDIATION);
  state.disputes = data.disputes.edges.map((edge) => edge.node);
  renderMediation();
}

function renderMediation() {
  const waiting = state.disputes.filter((d) => d.status === "IN_MEDIATION");
  const decided = state.disputes.filter((d) => d.status === "RESOLVED");
  const item = (d) => `<li class="card dispute" data-testid="mediation-item" data-dispute="${esc(d.id)}">
      <div class="card-head">
        <h2>${esc(d.contract.title)} · ${money(d.amount, d.contract.currency)}</h2>
        <span class="status status-${esc(d.status)}">${esc(d.status)}</span>
      </div>
      <div class="muted small">Opened by ${esc(d.openedBy?.name ?? "the freelancer")}, ${esc(when(d.openedAt))}${d.milestone ? ` · on “${esc(d.milestone.title)}”` : ""}</div>
      ${d.message ? `<blockquote>${esc(d.message)}</blockquote>` : ""}
      ${d.responseMessage ? `<p class="small">Client: <em>${esc(d.responseMessage)}</em></p>` : ""}
      ${d.status === "IN_MEDIATION" ? `
        <form class="resolve-form" data-id="${esc(d.id)}">
          <label>To the freelancer (0 to ${money(d.amount, d.contract.currency)}; the rest back to the client)</label>
          <input name="releaseAmount" data-testid="release-amount" inputmode="decimal" placeholder="${esc(d.amount)}" required />
          <label>Decision</label>
          <input name="message" data-testid="resolution-message" placeholder="Why" />
          <div class="actions" style="margin-top:8px"><button class="btn" type="submit" data-testid="resolve-dispute">Decide</button></div>
        </form>` : `<p class="small" data-testid="resolution">${esc(d.resolution?.kind ?? "")}: ${money(d.resolution?.releasedAmount, d.contract.currency)} to the freelancer, ${money(d.resolution?.refundedAmount, d.contract.currency)} back to the client${d.resolution?.message ? ` · <em>${esc(d.resolution.message)}</em>` : ""}</p>`}
    </li>`;
  $("#view").innerHTML = `
    <section data-testid="mediation">
      <div class="card"><div class="card-head"><h1>Disputes in mediation</h1><span class="muted small">${waiting.length} waiting</span></div>
        ${errorsOf("mediation")}
      </div>
      <ul class="mediation-list" data-testid="mediation-list">${waiting.map(item).join("") || `<li class="muted card">Nothing waiting for a decision.</li>`}</ul>
      <div class="card"><div class="card-head"><h2>Decided</h2></div></div>
      <ul class="mediation-list" data-testid="decided-list">${decided.map(item).join("")}</ul>
    </section>`;
}

async function resolveDispute(form) {
  const data = new FormData(form);
  const payload = await mutate("mediation", RESOLVE_DISPUTE, {
    input: {
      disputeId: form.dataset.id,
      releaseAmount: String(data.get("releaseAmount") ?? "").trim(),
      message: String(data.get("message") ?? "").trim() || null,
      idempotencyKey: crypto.randomUUID?.() ?? String(Date.now()),
    },
  });
  if (payload) toast("Dispute", "Decided.");
  await loadMediation();
}

async function openDisputeFrom(form) {
  const input = {
    message: form.querySelector("[data-testid=dispute-message]")?.value.trim() || null,
    idempotencyKey: crypto.randomUUID?.() ?? String(Date.now()),
  };
  if (form.dataset.disputeKind === "refund") input.refundRequestId = form.dataset.id;
  else input.milestoneId = form.dataset.id;
  const payload = await mutate("dispute", OPEN_DISPUTE, { input });
  if (!payload) return;
  toast("Dispute", "Opened: the client has been told.");
  await loadRoom();
}

// The server decides whether the viewer may submit (viewerCan: the mutation's own rule).
function submittable(room) {
  return room.milestones.find((m) => m.viewerCan.submit) ?? null;
}

function renderSubmitForm(room, isClient) {
  const milestone = submittable(room);
  if (!milestone) return "";
  const draft = state.submitDraft;
  if (draft.milestoneId !== milestone.id) state.submitDraft = { milestoneId: milestone.id, message: "", files: [] };
  const chosen = state.submitDraft.files.map((f) => `${esc(f.name)} (${size(f.size)})`).join(", ");
  return `<form class="card" id="submit-form" data-id="${esc(milestone.id)}" data-testid="submit-form">
    <div class="card-head"><h2>Submit work on “${esc(milestone.title)}”</h2><span class="muted small">Up to 10 files; the client reviews them.</span></div>
    <label for="submit-message">Message to the client</label>
    <textarea id="submit-message" data-testid="submit-message" rows="2" placeholder="What you did, where to look">${esc(state.submitDraft.message)}</textarea>
    <label for="submit-files">Files</label>
    <input id="submit-files" data-testid="submit-files" type="file" multiple />
    ${chosen ? `<div class="muted small" data-testid="submit-chosen">${chosen}</div>` : ""}
    <div class="actions" style="margin-top:10px"><button class="btn" type="submit" data-testid="submit-work">Submit work</button></div>
    ${errorsOf("submitForm")}
  </form>`;
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function renderSubmissions(room) {
  const blocks = room.milestones
    .filter((m) => m.submissions.length)
    .map((m) => {
      const items = m.submissions
        .map(
          (s) => `<li data-testid="submission">
            <div><span class="status status-${esc(s.outcome)}" data-testid="submission-outcome">${esc(s.outcome)}</span>
              <span class="muted small">${esc(when(s.submittedAt))}${s.respondedAt ? ` · answered ${esc(when(s.respondedAt))}` : ""}</span></div>
            ${s.message ? `<blockquote data-testid="submission-message">${esc(s.message)}</blockquote>` : ""}
            ${s.attachments.length ? `<ul class="attachments">${s.attachments
              .map(
                (a) => `<li><a href="${esc(a.url)}" data-action="download" data-url="${esc(a.url)}" data-filename="${esc(a.filename)}" data-testid="attachment-link">${esc(a.filename)}</a> <span class="muted small">${size(a.size)}</span></li>`,
              )
              .join("")}</ul>` : ""}
            ${s.responseMessage ? `<p class="small">Reply: <em>${esc(s.responseMessage)}</em></p>` : ""}
          </li>`,
        )
        .join("");
      return `<h3>#${m.position} ${esc(m.title)}</h3><ol class="submissions">${items}</ol>`;
    })
    .join("");
  if (!blocks) return "";
  return `<div class="card" data-testid="submissions"><div class="card-head"><h2>Submissions</h2></div>${blocks}${errorsOf("downloads")}</div>`;
}

function describeChange(change, currency) {
  const milestone = change.milestone;
  const target = !milestone
    ? ""
    : milestone.status === "DELETED"
      ? `${milestone.title} (deleted)`
      : `#${milestone.position} ${milestone.title}`;
  const sets = new Set(change.changedFields);
  const parts = [];
  if (change.kind === "ADD") parts.push(`<strong>${esc(change.title)}</strong>`);
  else parts.push(`<strong>${esc(target)}</strong>`);
  if (change.kind === "EDIT" && sets.has("TITLE")) parts.push(`title → “${esc(change.title)}”`);
  if (sets.has("AMOUNT")) parts.push(`${change.kind === "EDIT" ? "amount → " : ""}${money(change.amount, currency)}`);
  if (sets.has("DUE_DATE")) parts.push(change.dueDate ? `due ${esc(change.dueDate)}` : "due date cleared");
  if (sets.has("DESCRIPTION")) {
    parts.push(change.description ? `<span class="muted">${esc(change.description)}</span>` : "description cleared");
  }
  return `<li><span class="kind kind-${esc(change.kind)}">${esc(change.kind)}</span><span>${parts.join(" · ")}</span></li>`;
}

function renderChangeRequest(room) {
  const isClient = room.viewerRole === "CLIENT";
  const pending = room.pendingChangeRequest;
  const linked = state.linkedChangeRequest;
  // An email's link to an older request shows that one (answered: no buttons), then any pending.
  const older = linked && linked.id !== pending?.id ? renderChangeRequestCard(room, linked, null, false, "linked-change-request") : "";
  const latest = pending ?? room.changeRequests.edges[0]?.node;
  if (!latest) return older;
  return older + renderChangeRequestCard(room, latest, pending, isClient, pending ? "pending-change-request" : "latest-change-request");
}

function renderChangeRequestCard(room, latest, pending, isClient, testid) {
  const changes = latest.changes.map((c) => describeChange(c, room.currency)).join("");
  let actions = "";
  if (pending && room.viewerCan.respondToChangeRequest) {
    actions = `
      <label for="response-message">Reply (optional)</label>
      <input id="response-message" data-testid="response-message" placeholder="Thanks, looks good" />
      <div class="actions" style="margin-top:10px">
        <button class="btn btn-ok" data-action="accept" data-id="${esc(pending.id)}" data-testid="accept-change-request">Accept</button>
        <button class="btn btn-bad" data-action="decline" data-id="${esc(pending.id)}" data-testid="decline-change-request">Decline</button>
      </div>`;
  } else if (pending) {
    const withdraw = room.viewerCan.withdrawChangeRequest
      ? `<button class="btn btn-quiet btn-small" data-action="withdraw" data-id="${esc(pending.id)}">Withdraw</button>`
      : "";
    actions = `<div class="actions">
        <span class="muted small">Waiting for ${esc(room.client.name ?? "the client")} to respond.</span>
        ${withdraw}
      </div>`;
  }
  const heading = pending ? "Pending change request" : testid === "linked-change-request" ? "Change request" : "Latest change request";
  return `<div class="card change-request ${pending ? "pending" : ""}" data-testid="${testid}" data-focus-id="${esc(latest.id)}">
    <div class="card-head">
      <h2>${heading}</h2>
      <span class="status status-${esc(latest.status)}" data-testid="change-request-status">${esc(latest.status)}</span>
    </div>
    <div class="muted small">From ${esc(latest.requestedBy.name ?? "the freelancer")}, ${esc(when(latest.createdAt))}${latest.respondedAt ? ` · answered ${esc(when(latest.respondedAt))}` : ""}</div>
    ${latest.message ? `<blockquote>${esc(latest.message)}</blockquote>` : ""}
    <ul class="change-list">${changes}</ul>
    ${latest.responseMessage ? `<p class="small">Reply: <em>${esc(latest.responseMessage)}</em></p>` : ""}
    ${actions}
    ${errorsOf("changeRequest")}
  </div>`;
}

function emptyChange() {
  return { kind: "ADD", milestoneId: "", title: "", amount: "", dueDate: "", description: "" };
}

function renderChangeForm(room) {
  state.draftChanges ??= [emptyChange()];
  const upcoming = room.milestones.filter((m) => m.status === "UPCOMING");
  const rows = state.draftChanges
    .map((change, index) => {
      const options = upcoming
        .map((m) => `<option value="${esc(m.id)}" ${m.id === change.milestoneId ? "selected" : ""}>#${m.position} ${esc(m.title)}</option>`)
        .join("");
      const needsTarget = change.kind !== "ADD";
      const deleting = change.kind === "DELETE";
      return `<div class="change-row" data-row="${index}">
        <div><label>Change</label>
          <select data-field="kind" data-testid="change-kind">
            ${["ADD", "EDIT", "DELETE"].map((k) => `<option ${k === change.kind ? "selected" : ""}>${k}</option>`).join("")}
          </select></div>
        <div><label>Milestone</label>
          <select data-field="milestoneId" ${needsTarget ? "" : "disabled"}>
            <option value="">${needsTarget ? "Choose…" : "(new)"}</option>${options}
          </select></div>
        <div><label>Title</label><input data-field="title" data-testid="change-title" value="${esc(change.title)}" ${deleting ? "disabled" : ""} placeholder="${needsTarget ? "unchanged" : "Launch support"}" /></div>
        <div><label>Amount</label><input data-field="amount" data-testid="change-amount" inputmode="decimal" value="${esc(change.amount)}" ${deleting ? "disabled" : ""} placeholder="${needsTarget ? "unchanged" : "750.00"}" /></div>
        <div><label>Due date</label><input data-field="dueDate" type="date" value="${esc(change.dueDate)}" ${deleting ? "disabled" : ""} /></div>
        <button type="button" class="remove-row" data-action="remove-change" data-index="${index}" title="Remove">×</button>
      </div>`;
    })
    .join("");
  return `<form class="card" id="change-form" data-testid="request-changes-form">
    <div class="card-head"><h2>Request changes</h2><span class="muted small">The client accepts or declines all of them at once.</span></div>
    <div class="change-rows">${rows}</div>
    <div class="actions" style="margin:10px 0 12px"><button type="button" class="btn btn-quiet btn-small" data-action="add-change">+ Another change</button></div>
    <label for="change-message">Message to the client</label>
    <textarea id="change-message" data-testid="change-message" rows="2" placeholder="Why these changes?">${esc(state.draftMessage ?? "")}</textarea>
    <div class="actions" style="margin-top:10px"><button class="btn" type="submit" data-testid="submit-change-request">Send change request</button></div>
    ${errorsOf("changeForm")}
  </form>`;
}

function renderTimeline(room) {
  const items = room.events.edges
    .map((edge) => edge.node)
    .reverse()
    .map(
      (e) => `<li><time>${esc(when(e.occurredAt))}</time><span><strong>${esc(e.actor ? e.actor.name ?? "Someone" : "Automatic")}</strong> · ${esc(humanKind(e.kind))}${e.milestone ? ` · ${esc(e.milestone.title)}` : ""}</span></li>`,
    )
    .join("");
  return `<div class="card" data-testid="timeline"><div class="card-head"><h2>Activity</h2></div><ul class="timeline">${items}</ul></div>`;
}

function errorsOf(key) {
  const errors = state.formErrors[key] ?? [];
  return errors.length ? `<ul class="errors" data-testid="user-errors">${errors.map((e) => `<li>${esc(e)}</li>`).join("")}</ul>` : "";
}

// --- actions -----------------------------------------------------------------------------

async function act(action, id) {
  let payload = null;
  switch (action) {
    case "accept":
    case "decline":
      payload = await mutate("changeRequest", RESPOND_TO_CHANGE_REQUEST, {
        input: {
          changeRequestId: id,
          decision: action === "accept" ? "ACCEPT" : "DECLINE",
          message: $("#response-message")?.value.trim() || null,
        },
      });
      if (payload) toast("Change request", action === "accept" ? "Accepted: the milestones are updated." : "Declined.");
      break;
    case "accept-offer":
    case "decline-offer": {
      const accept = action === "accept-offer";
      const message = state.roomId === id ? $("#offer-message")?.value.trim() || null : null;
      payload = await mutate("offer", accept ? ACCEPT_CONTRACT : DECLINE_CONTRACT, {
        input: { contractId: id, message },
      });
      if (payload) toast("Offer", accept ? "Accepted: the contract is active." : "Declined.");
      if (payload && state.roomId !== id) await openRoom(id);
      break;
    }
    case "withdraw-offer":
      payload = await mutate("offer", WITHDRAW_OFFER, { input: { contractId: id } });
      if (payload) toast("Offer", "Withdrawn.");
      break;
    case "accept-refund":
    case "decline-refund":
      payload = await mutate("refundRequest", RESPOND_TO_REFUND_REQUEST, {
        input: { refundRequestId: id, decision: action === "accept-refund" ? "ACCEPT" : "DECLINE" },
      });
      if (payload) toast("Refund request", action === "accept-refund" ? "Accepted: the money goes back to the client." : "Declined.");
      break;
    case "withdraw":
      payload = await mutate("changeRequest", WITHDRAW_CHANGE_REQUEST, { input: { changeRequestId: id } });
      break;
    case "activate":
      payload = await mutate("milestones", ACTIVATE_MILESTONE, {
        input: { milestoneId: id, idempotencyKey: crypto.randomUUID?.() ?? String(Date.now()) },
      });
      break;
    case "download":
      return;
    case "approve":
      payload = await mutate("milestones", APPROVE_MILESTONE, {
        input: { milestoneId: id, endContract: false, idempotencyKey: crypto.randomUUID?.() ?? String(Date.now()) },
      });
      break;
    case "accept-dispute":
    case "reject-dispute":
      payload = await mutate("dispute", RESPOND_TO_DISPUTE, {
        input: {
          disputeId: id,
          decision: action === "accept-dispute" ? "ACCEPT" : "REJECT",
          message: $("#dispute-response")?.value.trim() || null,
          idempotencyKey: crypto.randomUUID?.() ?? String(Date.now()),
        },
      });
      if (payload) toast("Dispute", action === "accept-dispute" ? "Accepted: the amount is released." : "Sent to mediation.");
      break;
    default:
      return;
  }
  if (payload) {
    await loadRoom();
    await loadContracts();
  }
}

async function sendSubmission(milestoneId) {
  const draft = state.submitDraft;
  const files = draft.files.map((file, i) => [`variables.input.attachments.${i}`, file]);
  const input = { milestoneId, message: draft.message.trim() || null, attachments: draft.files.map(() => null) };
  state.formErrors.submitForm = [];
  let payload = null;
  try {
    const data = await state.api.upload(SUBMIT_MILESTONE, { input }, files);
    payload = data.submitMilestone;
    if (payload.userErrors.length) {
      showUserErrors("submitForm", payload.userErrors);
      return;
    }
  } catch (error) {
    handleRequestError(error);
    return;
  }
  state.submitDraft = { milestoneId: null, message: "", files: [] };
  toast("Work submitted", "The client can review it now.");
  await loadRoom();
  await loadContracts();
}

async function sendChangeRequest() {
  const input = {
    contractId: state.roomId,
    message: $("#change-message")?.value.trim() || null,
    changes: state.draftChanges.map((change) => {
      const item = { kind: change.kind };
      if (change.kind !== "ADD") item.milestoneId = change.milestoneId || null;
      if (change.kind !== "DELETE") {
        if (change.title.trim()) item.title = change.title.trim();
        if (change.amount.trim()) item.amount = change.amount.trim();
        if (change.dueDate) item.dueDate = change.dueDate;
      }
      return item;
    }),
  };
  const payload = await mutate("changeForm", REQUEST_MILESTONE_CHANGES, { input });
  if (!payload) return;
  state.draftChanges = null;
  state.draftMessage = null;
  toast("Change request", "Sent to the client.");
  await loadRoom();
}

document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-action], [data-open], [data-contract], [data-team]");
  if (!target) {
    if (!event.target.closest("#notifications-panel, #bell")) $("#notifications-panel").hidden = true;
    return;
  }
  if (target.dataset.team) {
    openTeam(target.dataset.team).catch(handleRequestError);
  } else if (target.dataset.open) {
    openRoom(target.dataset.open).catch(handleRequestError);
  } else if (target.dataset.contract) {
    $("#notifications-panel").hidden = true;
    openRoom(target.dataset.contract).catch(handleRequestError);
  } else if (target.dataset.action === "add-change") {
    state.draftChanges.push(emptyChange());
    renderRoom();
  } else if (target.dataset.action === "remove-change") {
    state.draftChanges.splice(Number(target.dataset.index), 1);
    if (!state.draftChanges.length) state.draftChanges.push(emptyChange());
    renderRoom();
  } else if (target.dataset.action === "download") {
    event.preventDefault();
    state.api.download(target.dataset.url, target.dataset.filename).catch(handleRequestError);
  } else {
    event.preventDefault();
    target.disabled = true;
    act(target.dataset.action, target.dataset.id).finally(() => (target.disabled = false));
  }
});

// Keep the change form's draft in state, so a live re-render does not lose what was typed.
document.addEventListener("input", (event) => {
  if (event.target.id === "change-message") state.draftMessage = event.target.value;
  if (event.target.id === "submit-message") state.submitDraft.message = event.target.value;
  const row = event.target.closest("[data-row]");
  if (!row || !event.target.dataset.field) return;
  const change = state.draftChanges[Number(row.dataset.row)];
  change[event.target.dataset.field] = event.target.value;
  if (event.target.dataset.field === "kind") renderRoom();
});
document.addEventListener("change", (event) => {
  if (event.target.id === "submit-files") {
    state.submitDraft.files = [...event.target.files];
    renderRoom();
    return;
  }
  if (event.target.dataset.field === "kind" || event.target.dataset.field === "milestoneId") {
    const row = event.target.closest("[data-row]");
    state.draftChanges[Number(row.dataset.row)][event.target.dataset.field] = event.target.value;
    if (event.target.dataset.field === "kind") renderRoom();
  }
});
document.addEventListener("submit", (event) => {
  if (event.target.id === "change-form") {
    event.preventDefault();
    sendChangeRequest().catch(handleRequestError);
  } else if (event.target.classList.contains("dispute-form")) {
    event.preventDefault();
    openDisputeFrom(event.target).catch(handleRequestError);
  } else if (event.target.classList.contains("resolve-form")) {
    event.preventDefault();
    resolveDispute(event.target).catch(handleRequestError);
  } else if (event.target.id === "submit-form") {
    event.preventDefault();
    const button = event.target.querySelector("[type=submit]");
    button.disabled = true;
    sendSubmission(event.target.dataset.id)
      .catch(handleRequestError)
      .finally(() => (button.disabled = false));
  }
});

$("#bell").addEventListener("click", () => {
  const panel = $("#notifications-panel");
  panel.hidden = !panel.hidden;
});
$("#mark-all-read").addEventListener("click", () => markAllRead());
$("#sign-out").addEventListener("click", () => signOut());

if (state.token) signIn(state.token);
else renderSignIn();
