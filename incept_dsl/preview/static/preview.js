// The preview page: asks /state for the chosen view and redraws the figure, the table and the
// errors; redraws again on each `change` event of /events. Text goes in with textContent only;
// the one markup inserted is the SVG our own renderer drew (parsed, scripts and handlers
// dropped), and the Content-Security-Policy runs no inline script in any case.
"use strict";

const view = { model: "", block: "", style: "network", by: "layer" };
let asked = 0;

function byId(id) { return document.getElementById(id); }

function queryString(extra) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(view)) { if (value) q.set(key, value); }
  for (const [key, value] of Object.entries(extra || {})) q.set(key, value);
  return q.toString();
}

function fillSelect(select, values, chosen, labels) {
  const same = select.options.length === values.length
    && values.every((v, i) => select.options[i].value === v);
  if (!same) {
    select.replaceChildren(...values.map((v) => {
      const option = document.createElement("option");
      option.value = v;
      option.textContent = (labels && labels[v]) || v;
      return option;
    }));
  }
  select.value = chosen;
}

function cleanSvg(text) {
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  if (doc.getElementsByTagName("parsererror").length) return null;
  const svg = document.importNode(doc.documentElement, true);
  svg.querySelectorAll("script, foreignObject").forEach((n) => n.remove());
  for (const el of [svg, ...svg.querySelectorAll("*")]) {
    for (const attr of [...el.attributes]) {
      if (attr.name.toLowerCase().startsWith("on")) el.removeAttribute(attr.name);
    }
  }
  return svg;
}

function showFigure(svgText) {
  const box = byId("figure");
  if (svgText === null) { box.classList.add("stale"); return; }  // keep the last good figure
  const svg = cleanSvg(svgText);
  if (svg) { box.replaceChildren(svg); box.classList.remove("stale"); }
}

function showTable(text) {
  const box = byId("table");
  if (text === null) { box.classList.add("stale"); return; }
  box.textContent = text;
  box.classList.remove("stale");
}

function showErrors(errors) {
  byId("errors").hidden = errors.length === 0;
  byId("error-text").textContent = errors.join("\n\n");
}

function apply(state) {
  Object.assign(view, { model: state.model, block: state.block, style: state.style, by: state.by });
  byId("file").textContent = state.file;
  fillSelect(byId("model"), state.models, state.model);
  fillSelect(byId("block"), ["", ...state.blocks], state.block, { "": "(whole network)" });
  byId("block").disabled = state.style === "blocks";
  byId("style").value = state.style;
  byId("by").value = state.by;
  showErrors(state.errors);
  showFigure(state.svg);
  showTable(state.table);
  for (const link of document.querySelectorAll(".downloads a")) {
    link.href = "/download?" + queryString({ fmt: link.dataset.fmt });
    link.setAttribute("download", "");
  }
  document.body.dataset.version = String(state.version);
}

async function refresh(retry = true) {
  const mine = ++asked;
  byId("status").classList.add("busy");
  try {
    const response = await fetch("/state?" + queryString(), { cache: "no-store" });
    if (response.status === 400 && retry) {  // a model or block that is gone: the defaults
      Object.assign(view, { model: "", block: "" });
      return refresh(false);
    }
    const state = await response.json();
    if (mine === asked && response.ok) apply(state);
  } finally {
    if (mine === asked) byId("status").classList.remove("busy");
  }
}

function choose(key) {
  return (event) => {
    view[key] = event.target.value;
    if (key === "model") view.block = "";
    refresh();
  };
}

function connect() {
  const status = byId("status");
  const events = new EventSource("/events");
  events.addEventListener("change", () => refresh());
  events.onopen = () => { status.textContent = "live"; status.classList.add("live"); };
  events.onerror = () => { status.textContent = "reconnecting…"; status.classList.remove("live"); };
}

document.addEventListener("DOMContentLoaded", () => {
  for (const key of Object.keys(view)) byId(key).addEventListener("change", choose(key));
  connect();
  refresh();
});
