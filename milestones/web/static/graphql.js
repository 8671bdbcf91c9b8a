// GraphQL over HTTP and over WebSocket (the graphql-transport-ws protocol), no dependencies.
//
//   const api = new GraphQLClient({ url: "/graphql", token });
//   const data = await api.request(QUERY, { id });            // throws GraphQLRequestError
//   const live = new LiveConnection({ url: wsUrl("/graphql"), token, onStatus });
//   const stop = live.subscribe({ query, variables: () => ({ after: lastCursor }), onNext });
//
// LiveConnection reconnects with backoff after a dropped connection and resubscribes every
// active subscription, asking `variables()` again: a subscription that passes its last cursor
// as `after` resumes where it was and misses nothing.

export class GraphQLRequestError extends Error {
  constructor(message, { errors = [], status = 0 } = {}) {
    super(message);
    this.name = "GraphQLRequestError";
    this.errors = errors;
    this.status = status;
  }

  get code() {
    return this.errors[0]?.extensions?.code ?? null;
  }
}

export class GraphQLClient {
  constructor({ url = "/graphql", token = null } = {}) {
    this.url = url;
    this.token = token;
  }

  async request(query, variables = {}, { operationName } = {}) {
    return this.#send(JSON.stringify({ query, variables, operationName }), {
      "content-type": "application/json",
    });
  }

  // A GraphQL multipart request (the files of `submitMilestone`): `files` is a list of
  // [variable path, File], e.g. [["variables.input.attachments.0", file]]. The preflight
  // header is what the server asks of every multipart request (CSRF protection).
  async upload(query, variables, files, { operationName } = {}) {
    const form = new FormData();
    form.append("operations", JSON.stringify({ query, variables, operationName }));
    form.append("map", JSON.stringify(Object.fromEntries(files.map(([path], i) => [String(i), [path]]))));
    files.forEach(([, file], i) => form.append(String(i), file, file.name));
    return this.#send(form, { "graphql-preflight": "1" });
  }

  // A file the API names by URL (`Attachment.url`): fetched with the token, then saved.
  async download(url, filename) {
    let response;
    try {
      response = await fetch(url, { headers: this.token ? { authorization: `Bearer ${this.token}` } : {} });
    } catch (error) {
      throw new GraphQLRequestError(`The server cannot be reached (${error.message}).`);
    }
    if (!response.ok) {
      throw new GraphQLRequestError(`The file could not be downloaded (HTTP ${response.status}).`, {
        status: response.status,
      });
    }
    const href = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = href;
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(href), 60_000);
  }

  async #send(body, extraHeaders) {
    const headers = {
      accept: "application/graphql-response+json, application/json",
      ...extraHeaders,
    };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let response;
    try {
      response = await fetch(this.url, { method: "POST", headers, body });
    } catch (error) {
      throw new GraphQLRequestError(`The server cannot be reached (${error.message}).`);
    }
    let result;
    try {
      result = await response.json();
    } catch {
      throw new GraphQLRequestError(`The server answered HTTP ${response.status}.`, {
        status: response.status,
      });
    }
    if (result.errors?.length) {
      throw new GraphQLRequestError(result.errors.map((e) => e.message).join("\n"), {
        errors: result.errors,
        status: response.status,
      });
    }
    return result.data;
  }
}

export function wsUrl(path) {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

const PROTOCOL = "graphql-transport-ws";
const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];
const KEEPALIVE_MS = 20000;
// Close codes after which trying again cannot help: the token is refused or the client is wrong.
const FATAL_CLOSE_CODES = new Set([4400, 4401, 4403, 4406]);

export class LiveConnection {
  // onStatus(status, detail): "connecting" | "live" | "reconnecting" | "unauthorized" | "closed"
  constructor({ url, token, onStatus = () => {} }) {
    this.url = url;
    this.token = token;
    this.onStatus = onStatus;
    this.subscriptions = new Map(); // key -> { query, variables, onNext, onError, id }
    this.socket = null;
    this.acknowledged = false;
    this.attempt = 0;
    this.nextId = 1;
    this.nextKey = 1;
    this.closed = false;
    this.retryTimer = null;
    this.keepaliveTimer = null;
    this.connect();
  }

  subscribe({ query, variables = () => ({}), onNext, onError = () => {} }) {
    const key = this.nextKey++;
    const subscription = { query, variables, onNext, onError, id: null };
    this.subscriptions.set(key, subscription);
    if (this.acknowledged) this.#start(subscription);
    return () => {
      this.subscriptions.delete(key);
      if (subscription.id && this.acknowledged) {
        this.#send({ id: subscription.id, type: "complete" });
      }
    };
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.keepaliveTimer);
    this.socket?.close(1000, "Normal Closure");
    this.onStatus("closed");
  }

  connect() {
    if (this.closed) return;
    this.onStatus(this.attempt === 0 ? "connecting" : "reconnecting", { attempt: this.attempt });
    const socket = new WebSocket(this.url, PROTOCOL);
    this.socket = socket;
    this.acknowledged = false;
    socket.onopen = () => {
      this.#send({
        type: "connection_init",
        payload: { authorization: `Bearer ${this.token}` },
      });
    };
    socket.onmessage = async (event) => {
      // The protocol speaks text frames; tolerate a server that sends binary ones.
      const text = typeof event.data === "string" ? event.data : await event.data.text();
      if (socket === this.socket) this.#receive(JSON.parse(text));
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      clearInterval(this.keepaliveTimer);
      this.acknowledged = false;
      for (const subscription of this.subscriptions.values()) subscription.id = null;
      if (this.closed) return;
      if (FATAL_CLOSE_CODES.has(event.code)) {
        this.onStatus("unauthorized", { code: event.code, reason: event.reason });
        return;
      }
      const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
      this.attempt += 1;
      this.onStatus("reconnecting", { attempt: this.attempt, delay, code: event.code });
      // Jitter keeps a restarted server from being hit by every page at the same moment.
      this.retryTimer = setTimeout(() => this.connect(), delay * (0.75 + Math.random() / 2));
    };
  }

  #send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  #start(subscription) {
    subscription.id = String(this.nextId++);
    this.#send({
      id: subscription.id,
      type: "subscribe",
      payload: { query: subscription.query, variables: subscription.variables() },
    });
  }

  #find(id) {
    for (const [key, subscription] of this.subscriptions) {
      if (subscription.id === id) return [key, subscription];
    }
    return [null, null];
  }

  #receive(message) {
    switch (message.type) {
      case "connection_ack":
        this.acknowledged = true;
        this.attempt = 0;
        this.onStatus("live");
        for (const subscription of this.subscriptions.values()) this.#start(subscription);
        this.keepaliveTimer = setInterval(() => this.#send({ type: "ping" }), KEEPALIVE_MS);
        break;
      case "ping":
        this.#send({ type: "pong" });
        break;
      case "next": {
        const [, subscription] = this.#find(message.id);
        if (!subscription) break;
        if (message.payload.errors?.length) subscription.onError(message.payload.errors);
        if (message.payload.data) subscription.onNext(message.payload.data);
        break;
      }
      case "error": {
        const [key, subscription] = this.#find(message.id);
        if (!subscription) break;
        this.subscriptions.delete(key);
        subscription.onError(message.payload);
        break;
      }
      case "complete": {
        const [key] = this.#find(message.id);
        if (key !== null) this.subscriptions.delete(key);
        break;
      }
      default:
        break;
    }
  }
}
