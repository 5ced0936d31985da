// Datasets not on this machine: a Download button each (the server fetches the files into
// its data dir on a background thread); the progress is polled and shown until the dataset
// becomes selectable in the picker, or the server's message says why it failed.
import { api, el, setMessage } from "./api.js";

const POLL_MS = 250;

function size(n) { return n >= 1e6 ? (n / 1e6).toFixed(1) + " MB" : (n / 1e3).toFixed(1) + " kB"; }

export class Downloads {
  constructor(select, onReady) {
    this.select = select;    // the dataset picker
    this.onReady = onReady;  // called with the name once a download is done
    this.box = document.getElementById("downloads");
    this.rows = {};
  }

  // One row per missing dataset; a download under way (e.g. from another tab) is joined.
  show(datasets) {
    this.box.replaceChildren();
    for (const d of datasets) {
      if (d.available) continue;
      const bar = el("progress", { max: "1", value: "0", hidden: "" });
      const text = el("span", { class: "message" });
      const button = el("button", { class: "download", "data-dataset": d.name,
                                    onclick: () => this.start(d.name) }, `Download ${d.name}`);
      const row = el("div", { class: "row download-row", "data-dataset": d.name }, button, bar, text);
      this.rows[d.name] = { row, button, bar, text };
      this.box.append(row);
      if (d.download) this.render(d.name, d.download);
      if (d.download && d.download.status === "downloading") this.poll(d.name);
    }
  }

  async start(name) {
    const r = await api(`/api/datasets/${encodeURIComponent(name)}/download`, {});
    if (r.status === 409 && r.data.download) return this.poll(name);  // already under way: join
    if (!r.ok) return setMessage(this.rows[name].text, r.data.error, "error");
    this.render(name, r.data);
    this.poll(name);
  }

  async poll(name) {
    const r = await api(`/api/datasets/${encodeURIComponent(name)}/download`);
    if (!r.ok) return setMessage(this.rows[name].text, r.data.error, "error");
    this.render(name, r.data);
    if (r.data.status === "downloading") setTimeout(() => this.poll(name), POLL_MS);
    else if (r.data.status === "done") this.ready(name);
  }

  render(name, s) {
    const { button, bar, text } = this.rows[name];
    button.disabled = s.status === "downloading";
    bar.hidden = false;
    bar.value = s.total ? s.done / s.total : 0;
    if (s.status === "failed") return setMessage(text, s.error, "error");
    const pct = s.total ? ` (${(100 * s.done / s.total).toFixed(0)}%)` : "";
    setMessage(text, `${s.status}: ${size(s.done)} of ${size(s.total)}${pct}`,
               s.status === "done" ? "ok" : "");
  }

  ready(name) {
    const opt = [...this.select.options].find((o) => o.value === name);
    if (opt) { opt.disabled = false; opt.textContent = name; }
    this.rows[name].button.remove();
    this.onReady(name);
  }
}
