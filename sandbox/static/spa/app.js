// The sandbox EPJ as a single-page application, plain JavaScript, no build step.
//
// It behaves as hospital web clients do, traps included: hash routing; the session
// token in localStorage; a menu and tabs loaded after the page; a search list that
// keeps showing the previous result until the new one arrives; a form shown at
// once and rendered again when its defaults arrive (what was typed before is
// lost); refusals as modal dialogs that block the page until answered; toasts that
// vanish; select options whose values are JSON, not what their labels say; the
// archive's document viewer in an iframe, a page of its own that opens slowly.
"use strict";

const TOKEN = "epj.token";
const TOAST_MS = 2500;
const view = () => document.getElementById("view");
let inFlight = 0;

function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else if (value !== false && value != null) element.setAttribute(name, value);
  }
  element.append(...children.flat().filter((c) => c != null));
  return element;
}

class SessionEnded extends Error {}

// Every call to the API: the bearer token, the busy indicator, JSON both ways.
async function api(path, options = {}) {
  inFlight += 1;
  document.getElementById("busy").hidden = false;
  try {
    const response = await fetch(`/spa/api${path}`, {
      method: options.method || "GET",
      headers: {
        "Content-Type": "application/json",
        Authorization: `Bearer ${localStorage.getItem(TOKEN) || ""}`,
      },
      body: options.body ? JSON.stringify(options.body) : undefined,
    });
    if (response.status === 401 && path !== "/login") throw new SessionEnded();
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    if (response.status >= 500 || data === null) {
      throw new Error("The system is temporarily unavailable. Please try again.");
    }
    return { status: response.status, data };
  } finally {
    inFlight -= 1;
    document.getElementById("busy").hidden = inFlight > 0 ? false : true;
  }
}

// A modal dialog: blocks the page until its OK is clicked.
function dialog(kind, title, lines) {
  const overlay = h("div", { class: "overlay" });
  const box = h(
    "div",
    { role: "alertdialog", "aria-modal": "true", "aria-labelledby": "dialog-title",
      "data-kind": kind },
    h("h2", { id: "dialog-title" }, title),
    h("ul", { class: "dialog-text" }, lines.map((line) => h("li", {}, line))),
    h("button", { type: "button", onclick: () => overlay.remove() }, "OK"),
  );
  overlay.append(box);
  document.body.append(overlay);
}

function toast(text) {
  const note = h("p", { class: "toast", role: "status" }, text);
  document.getElementById("toasts").append(note);
  setTimeout(() => note.remove(), TOAST_MS);
}

// Runs a view's work; a failure is a dialog, an ended session the login view.
async function guarded(work) {
  try {
    await work();
  } catch (error) {
    if (error instanceof SessionEnded) {
      localStorage.removeItem(TOKEN);
      showLogin("Your session has ended. Log in again.");
    } else {
      dialog("error", "System error", [error.message]);
    }
  }
}

function field(id, label, input) {
  input.id = id;
  return [h("label", { for: id }, label), input];
}

// Views ---------------------------------------------------------------------------

function showLogin(message) {
  document.getElementById("menu").replaceChildren();
  document.getElementById("who").textContent = "";
  const form = h(
    "form",
    { id: "login-form" },
    message ? h("p", { role: "alert" }, message) : null,
    field("username", "Username", h("input", { autocomplete: "username" })),
    field("password", "Password", h("input", { type: "password" })),
    h("button", { type: "submit" }, "Log in"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const body = {
        username: form.querySelector("#username").value,
        password: form.querySelector("#password").value,
      };
      const { status, data } = await api("/login", { method: "POST", body });
      if (status !== 200) return dialog("validation", "Login failed", [data.error]);
      localStorage.setItem(TOKEN, data.token);
      start();
    });
  });
  view().replaceChildren(h("h1", {}, "Log in"), form);
}

async function loadMenu() {
  const menu = document.getElementById("menu");
  menu.replaceChildren(h("p", {}, "Loading menu…"));
  const { data } = await api("/menu");
  menu.replaceChildren(
    h("ul", { role: "tree" }, data.map((entry) => h(
      "li", { role: "treeitem" }, entry.label,
      h("ul", {}, entry.children.map((child) => h(
        "li", {}, h("a", { href: child.route }, child.label)))),
    ))),
  );
}

function showSearch() {
  const hits = h("ul", { id: "hits", "aria-label": "Search results" });
  const count = h("p", { id: "hit-count" });
  const form = h(
    "form",
    { id: "search-form" },
    field("cpr", "CPR number", h("input", { inputmode: "numeric" })),
    h("button", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const cpr = form.querySelector("#cpr").value;
      // The previous result stays on screen until this answer arrives.
      const { status, data } = await api(`/patients?cpr=${encodeURIComponent(cpr)}`);
      if (status !== 200) return dialog("validation", "Search", [data.error]);
      count.textContent = `${data.hits} patient(s) found`;
      hits.replaceChildren(...data.patients.map((p) => h(
        "li", {}, h("a", { href: `#/patients/${p.id}` }, `${p.name} · ${p.cpr}`))));
    });
  });
  view().replaceChildren(h("h1", {}, "Find patient"), form, count, hits);
}

async function showPatient(id, tab, documentId) {
  const { data: patient } = await api(`/patients/${id}`);
  const tabs = [["results", "Lab results"], ["new", "Register lab result"],
    ["documents", "Documents"]];
  const panel = h("section", { role: "tabpanel", id: "tab-panel" }, "Loading…");
  view().replaceChildren(
    h("h1", {}, patient.name),
    h("dl", {}, h("dt", {}, "CPR number"), h("dd", { id: "patient-cpr" }, patient.cpr),
      h("dt", {}, "Department"), h("dd", { id: "patient-department" }, patient.department)),
    h("div", { role: "tablist", "aria-label": "Patient" }, tabs.map(([key, label]) => h(
      "button",
      { type: "button", role: "tab", "aria-selected": String(key === tab),
        onclick: () => { location.hash = `#/patients/${id}/${key}`; } },
      label,
    ))),
    panel,
  );
  // A tab's content comes a moment after its tab.
  await new Promise((resolve) => setTimeout(resolve, 100));
  if (tab === "new") return showLabForm(patient, panel);
  if (tab === "documents") return showDocuments(patient, panel, documentId);
  const head = ["Registration id", "Sampled at", "Test code", "Test", "Value", "Unit",
    "Comment"];
  const rows = patient.lab_results.map((r) => h("tr", {}, [r.id, r.sampled_at, r.code,
    r.test, r.value, r.unit, r.comment].map((cell) => h("td", {}, String(cell)))));
  panel.replaceChildren(h(
    "table", { id: "lab-results", "aria-label": "Lab results" },
    h("thead", {}, h("tr", {}, head.map((name) => h("th", {}, name)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "7" },
      "No lab results."))),
  ));
}

// The patient's documents; the chosen one in the archive's viewer, an iframe.
function showDocuments(patient, panel, documentId) {
  const rows = patient.documents.map((d) => h("tr", {}, h("td", {}, d.date),
    h("td", {}, d.type), h("td", {}, h("a", {
      href: `#/patients/${patient.id}/documents/${d.id}` }, d.title))));
  const chosen = patient.documents.find((d) => String(d.id) === documentId);
  panel.replaceChildren(
    h("table", { id: "documents", "aria-label": "Documents" },
      h("thead", {}, h("tr", {}, ["Date", "Type", "Title"].map((n) => h("th", {}, n)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "3" },
        "No documents.")))),
    chosen ? h("iframe", { title: "Document viewer", src: chosen.viewer,
      width: "640", height: "480" }) : null,
  );
}

async function showLabForm(patient, panel) {
  // Shown at once, usable at once; rendered again when the defaults arrive.
  const render = (codes, defaults) => {
    const select = h("select", {}, h("option", { value: "" }, codes ? "Choose…" : "Loading…"),
      (codes || []).map((c) => h("option", { value: c.value }, c.label)));
    const form = h(
      "form",
      { id: "lab-form" },
      field("code", "Test code", select),
      field("value", "Value", h("input", { inputmode: "decimal" })),
      field("unit", "Unit", h("input", {})),
      field("sampled_at", "Sampled at", h("input", { type: "datetime-local",
        value: defaults.sampled_at || "" })),
      field("comment", "Comment", h("textarea", { rows: "3" })),
      h("button", { type: "submit" }, "Save result"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(() => save(patient, form));
    });
    panel.replaceChildren(form);
  };
  render(null, {});
  const { data } = await api("/lab-results/form");
  render(data.codes, data.defaults);
}

async function save(patient, form) {
  const value = (id) => form.querySelector(`#${id}`).value;
  const body = Object.fromEntries(
    ["code", "value", "unit", "sampled_at", "comment"].map((id) => [id, value(id)]));
  const { status, data } = await api(`/patients/${patient.id}/lab-results`,
    { method: "POST", body });
  if (status === 422) {
    const labels = { code: "Test code", value: "Value", unit: "Unit",
      sampled_at: "Sampled at", comment: "Comment" };
    const lines = Object.entries(data.errors).map(([k, v]) => `${labels[k]}: ${v}`);
    return dialog("validation", "The result was not saved", lines);
  }
  if (status === 409) {
    return dialog("warning", "Already registered",
      [`Already registered (id ${data.duplicate_id}).`]);
  }
  toast(`Result saved (id ${data.id}).`);
  location.hash = `#/patients/${patient.id}/results`;
}

// Routing -------------------------------------------------------------------------

function route() {
  if (!localStorage.getItem(TOKEN)) return showLogin();
  const path = location.hash.replace(/^#/, "") || "/";
  const patient = path.match(
    /^\/patients\/(\d+)(?:\/(results|new|documents))?(?:\/(\d+))?$/);
  guarded(async () => {
    if (patient) await showPatient(patient[1], patient[2] || "results", patient[3]);
    else showSearch();
  });
}

function start() {
  if (!localStorage.getItem(TOKEN)) return showLogin();
  guarded(loadMenu);
  route();
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", start);
