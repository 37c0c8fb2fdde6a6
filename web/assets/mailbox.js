// The mailbox: what Tandem's topics would email, read from the demo's /local/api/mailbox every 2 seconds.
//
// A mail's body is plain text, shown as text. A URL in it becomes a link only when it is Tandem's own: on this
// site, to the expert pages (/experts/) or the experts' inbox (/inbox), and written by Tandem above the
// conversation the mail quotes. Any other URL stays text, so a customer's words quoted in a mail can never
// become a link, even to this site.

import { announceIn, count, el, facts, fill, getJson, link, reconcile, showLocalBadge, timeEl } from "./render.js";

const POLL_MS = 2000;
const URL_PATTERN = /https?:\/\/[^\s<>"'`]+/g;
const TRAILING_PUNCTUATION = /[.,;:!?)\]}]+$/; // ends a sentence, not the URL
const TITLE = document.title;
const EXPERT_PAGES = "/experts/";
const INBOX_PAGE = "/inbox";
const QUOTED_CONVERSATION = "\n--- "; // lambdas/escalation_worker/expert_email.py: each quoted turn's header

const list = document.getElementById("mail-list");
const empty = document.getElementById("mailbox-empty");
const counter = document.getElementById("mailbox-count");
const problem = document.getElementById("mailbox-error");
const announcer = document.getElementById("mailbox-announcer");

const unread = new Set(); // mails that arrived while the page was open and were not opened yet
let firstLoad = true;

/** `text` as text nodes, with the links to this site's expert pages above the quoted conversation as links. */
export function linkify(text, origin = location.origin) {
  const fragment = document.createDocumentFragment();
  const quoted = text.indexOf(QUOTED_CONVERSATION);
  const own = quoted === -1 ? text : text.slice(0, quoted);
  let done = 0;
  for (const match of own.matchAll(URL_PATTERN)) {
    const candidate = match[0].replace(TRAILING_PUNCTUATION, "");
    let url = null;
    try {
      url = new URL(candidate);
    } catch {
      url = null;
    }
    const ours = url && (url.pathname.startsWith(EXPERT_PAGES) || url.pathname === INBOX_PAGE);
    if (!ours || url.origin !== origin) continue; // stays text
    fragment.append(text.slice(done, match.index), link(url.href, candidate, { className: "mail-link" }));
    done = match.index + candidate.length;
  }
  fragment.append(text.slice(done));
  return fragment;
}

function createMail(mail) {
  const details = el("details", { className: "mail-details" }, el("summary"), el("div", { className: "mail-open" }));
  details.addEventListener("toggle", () => {
    if (details.open && unread.delete(mail.mail_id)) {
      details.querySelector(".mail-new")?.remove();
      updateTitle();
    }
  });
  return el("li", { className: "mail", id: `mail-${mail.mail_id}`, dataset: { mailId: mail.mail_id } }, details);
}

function updateMail(item, mail) {
  const details = item.querySelector("details");
  const summary = details.querySelector("summary");
  fill(summary,
    el("span", { className: "mail-subject" }, mail.subject),
    unread.has(mail.mail_id) ? el("span", { className: "badge mail-new" }, "New") : null,
    el("span", { className: "mail-meta" }, `To: ${mail.to} \u00b7 `, timeEl(mail.sent_at)),
  );
  fill(details.querySelector(".mail-open"),
    facts([
      ["From", `Tandem (the ${mail.topic} topic)`],
      ["To", mail.to],
      ["Sent", timeEl(mail.sent_at)],
      ["Subject", mail.subject],
    ]),
    el("pre", { className: "mail-body" }, linkify(String(mail.body ?? ""))),
  );
}

function announce(message) {
  announceIn(announcer, message);
}

function updateTitle() {
  document.title = unread.size ? `(${unread.size}) ${TITLE}` : TITLE;
}

function render(mails) {
  const known = new Set([...list.children].map((child) => child.dataset.key));
  const arrived = mails.filter((mail) => !known.has(mail.mail_id));
  if (!firstLoad) for (const mail of arrived) unread.add(mail.mail_id);
  // The API lists mail in the order it arrived: newest last.
  reconcile(list, [...mails].reverse(), { key: (mail) => mail.mail_id, create: createMail, update: updateMail });
  empty.hidden = mails.length > 0;
  counter.textContent = mails.length ? `${count(mails.length, "mail")}, newest first` : "No mail";
  if (!firstLoad && arrived.length) announce(arrived.map((mail) => `New mail: ${mail.subject}`).join(". "));
  updateTitle();
  firstLoad = false;
}

let timer = null;

async function poll() {
  clearTimeout(timer);
  if (document.hidden) return; // nobody reads a hidden tab: it asks again once it is shown
  try {
    const { mails } = await getJson("/local/api/mailbox");
    render(Array.isArray(mails) ? mails : []);
    problem.hidden = true;
  } catch (error) {
    problem.textContent = `Cannot read the mailbox (${error.message}). Trying again every ${POLL_MS / 1000} seconds.`;
    problem.hidden = false;
  } finally {
    timer = setTimeout(poll, POLL_MS);
  }
}

document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
showLocalBadge();
poll();
