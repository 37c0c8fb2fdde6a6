// Small DOM helpers shared by the pages (the inbox, the mailbox, behind the scenes, the raters' console).
//
// Every value from the demo's JSON goes into the page as text (textContent, text nodes): nothing here parses
// HTML, so a customer's "<b>x</b>" is shown as those characters. Links are made only by `link()`, which sets
// the anchor's href through the DOM.

const FORBIDDEN_ATTRIBUTES = /^(on|style$|href$|src$|srcdoc$|action$|formaction$)/i;

/** Appends children: strings and numbers as text nodes, nodes as they are, null/undefined/false skipped. */
export function append(parent, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces `parent`'s children (as append() takes them: null, undefined and false are skipped). */
export function fill(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/**
 * el("p", {className: "x", id: "y"}, "text", otherNode): an element with attributes and children.
 * `className`, `text` (its whole text) and `dataset` are set as properties; anything else with setAttribute,
 * except event handlers, style and URLs (those are refused: links come from link()).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "text") node.textContent = String(value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (FORBIDDEN_ATTRIBUTES.test(name)) throw new Error(`el() does not set ${name}`);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  return append(node, children);
}

/** An anchor to `url` (an absolute http(s) URL or a path of this site) with `text` as its text. */
export function link(url, text, props = {}) {
  const resolved = new URL(url, location.href);
  if (resolved.protocol !== "http:" && resolved.protocol !== "https:") throw new Error("not a web link");
  const anchor = el("a", props);
  anchor.href = resolved.href;
  anchor.textContent = text;
  return anchor;
}

/** A <time> for an ISO timestamp, shown in this browser's locale and time zone (as it came when unreadable). */
export function timeEl(iso, props = {}) {
  if (!iso) return el("span", { className: "muted", ...props }, "\u2014");
  const date = new Date(iso);
  const readable = !Number.isNaN(date.getTime());
  return el("time", { datetime: readable ? date.toISOString() : null, title: String(iso), ...props },
    readable ? date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" }) : String(iso));
}

/** <dl> rows from [term, value] pairs; a value may be text, a node or a list of them; null rows are skipped. */
export function facts(rows, props = {}) {
  const list = el("dl", { className: "facts", ...props });
  for (const row of rows) {
    if (!row) continue;
    const [term, value] = row;
    list.append(el("div", {}, el("dt", {}, term), el("dd", {}, value)));
  }
  return list;
}

/** The JSON at `url`; an Error with the server's message when the status is not 2xx. */
export async function getJson(url) {
  const response = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body && typeof body.message === "string" ? body.message : `HTTP ${response.status}`;
    throw new Error(message);
  }
  return body;
}

// The "Local demo" badge, and the links to the demo's own pages (the mailbox, behind the scenes), shown only
// when the demo serves the page: deployed, those pages do not exist.
export function showDemoParts(local) {
  const badge = document.getElementById("local-badge");
  if (badge) badge.hidden = !local;
  for (const item of document.querySelectorAll("[data-demo-only]")) item.hidden = !local;
}

/** Shows the demo's parts when /config.json says this is the local demo. */
export async function showLocalBadge() {
  try {
    const config = await getJson("/config.json");
    showDemoParts(Boolean(config && config.local === true));
  } catch {
    showDemoParts(false);
  }
}

const signatures = new WeakMap(); // element -> the JSON of the item it shows

/**
 * Keeps `container`'s children in step with `items`, one child per key: a child whose item is unchanged is
 * left alone; a changed one is updated in place (`update(node, item)`); new ones are made with
 * `create(item)` then `update`; gone ones are removed. Elements stay the same objects across refreshes, so
 * an open <details>, the focus and the scroll position survive a refresh.
 */
export function reconcile(container, items, { key, create, update }) {
  const existing = new Map();
  for (const child of container.children) existing.set(child.dataset.key, child);
  let previous = null;
  for (const item of items) {
    const itemKey = String(key(item));
    const signature = JSON.stringify(item);
    let node = existing.get(itemKey);
    if (node) {
      existing.delete(itemKey);
    } else {
      node = create(item);
      node.dataset.key = itemKey;
    }
    if (signatures.get(node) !== signature) {
      update(node, item);
      signatures.set(node, signature);
    }
    const wanted = previous ? previous.nextElementSibling : container.firstElementChild;
    if (node !== wanted) container.insertBefore(node, wanted);
    previous = node;
  }
  for (const gone of existing.values()) gone.remove();
}

const lastSeen = new Map(); // part -> the JSON it last showed

/** Whether `value` differs from what `key` last held (for parts re-rendered whole). */
export function changed(key, value) {
  const signature = JSON.stringify(value);
  if (lastSeen.get(key) === signature) return false;
  lastSeen.set(key, signature);
  return true;
}

/** "1 mail", "3 mails". */
export function count(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** Whether a key pressed on `target` is typing (a text box): the pages' letter shortcuts leave it alone. */
export function typingIn(target) {
  return target instanceof HTMLTextAreaElement
    || (target instanceof HTMLInputElement && !["radio", "checkbox", "button", "submit"].includes(target.type));
}

/** Shows `message` in the element with this id, or hides it when the message is empty. */
export function showMessage(id, message) {
  const box = document.getElementById(id);
  box.textContent = message;
  box.hidden = !message;
}

/** Says `message` through a live region. It is emptied first and filled a moment later, so the same words said
 * twice (a second mail with the same subject, "Rated 4. Next item." again) are announced again. */
export function announceIn(region, message, delayMs = 100) {
  region.textContent = "";
  setTimeout(() => { region.textContent = message; }, delayMs);
}
