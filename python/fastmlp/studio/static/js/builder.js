// The model builder: dataset picker, the layer list (add, remove, reorder, edit) and the
// live validation: the server builds the fm.Sequential and answers with the Python API's
// message or the summary.
import { api, el, setMessage } from "./api.js";
import { Downloads } from "./datasets.js";

const DEFAULT_MODEL = [
  { type: "Rescaling", scale: 1 / 255 }, { type: "Flatten" },
  { type: "Dense", units: 128, activation: "relu" },
  { type: "Dense", units: 10, activation: "softmax" },
];

export class Builder {
  constructor(info, onValid) {
    this.catalogue = Object.fromEntries(info.layers.map((l) => [l.type, l]));
    this.activations = info.activations;
    this.layers = DEFAULT_MODEL.map((l) => ({ ...l }));
    this.onValid = onValid;
    this.valid = false;
    this.list = document.getElementById("layers");
    this.message = document.getElementById("validation");
    this.summary = document.getElementById("summary");
    this.dataset = document.getElementById("dataset");
    const menu = document.getElementById("add-layer-type");
    for (const t of Object.keys(this.catalogue)) menu.append(el("option", { value: t }, t));
    menu.value = "Dense";
    document.getElementById("add-layer").addEventListener("click", () => this.add(menu.value));
    this.dataset.addEventListener("change", () => this.pickDataset());
    this.downloads = new Downloads(this.dataset, (name) => {
      this.dataset.value = name;
      this.pickDataset();
    });
  }

  async loadDatasets() {
    const r = await api("/api/datasets");
    if (!r.ok) return setMessage(this.message, r.data.error, "error");
    for (const d of r.data.datasets) {
      const opt = el("option", { value: d.name }, d.name + (d.available ? "" : " (not found)"));
      if (!d.available) opt.disabled = true;
      this.dataset.append(opt);
    }
    this.dataset.value = "sample";
    this.downloads.show(r.data.datasets);
    await this.pickDataset();
  }

  async pickDataset() {
    const info = document.getElementById("dataset-info");
    info.textContent = "loading...";
    const r = await api(`/api/datasets/${encodeURIComponent(this.dataset.value)}`);
    info.textContent = r.ok
      ? `${r.data.n_train} training, ${r.data.n_test} test images of ${r.data.input_shape.join("x")}, ${r.data.classes.length} classes`
      : r.data.error;
    this.classes = r.ok ? r.data.classes : [];
    this.changed();
  }

  spec() { return { dataset: this.dataset.value, layers: this.layers.map((l) => ({ ...l })) }; }

  add(type) {
    const layer = { type };
    for (const p of this.catalogue[type].params) if (p.required) layer[p.name] = p.default;
    this.layers.push(layer);
    this.changed();
  }

  move(i, d) {
    const j = i + d;
    if (j < 0 || j >= this.layers.length) return;
    [this.layers[i], this.layers[j]] = [this.layers[j], this.layers[i]];
    this.changed();
  }

  remove(i) { this.layers.splice(i, 1); this.changed(); }

  field(layer, p) {
    const id = `p-${Math.random().toString(36).slice(2)}`;
    const v = p.name in layer ? layer[p.name] : p.default;
    let input;
    if (p.kind === "activation") {
      input = el("select", { id, "data-param": p.name });
      if (!p.required) input.append(el("option", { value: "" }, "none"));
      for (const a of this.activations) input.append(el("option", { value: a }, a));
      input.value = v == null ? "" : v;
    } else if (p.kind === "bool") {
      input = el("input", { id, type: "checkbox", "data-param": p.name });
      input.checked = !!v;
    } else {
      input = el("input", { id, type: "number", step: p.kind === "int" ? "1" : "any",
                            "data-param": p.name });
      input.value = v == null ? "" : String(v);
    }
    input.addEventListener("change", () => {
      if (p.kind === "activation") layer[p.name] = input.value || null;
      else if (p.kind === "bool") layer[p.name] = input.checked;
      else layer[p.name] = input.value === "" ? null : Number(input.value);
      this.changed(false);
    });
    return el("label", { for: id }, p.name + " ", input);
  }

  render() {
    this.list.replaceChildren(...this.layers.map((layer, i) => {
      const tools = el("span", { class: "tools" },
        el("button", { class: "up", title: "move up", onclick: () => this.move(i, -1) }, "\u2191"),
        el("button", { class: "down", title: "move down", onclick: () => this.move(i, 1) }, "\u2193"),
        el("button", { class: "remove", title: "remove", onclick: () => this.remove(i) }, "\u2715"));
      const params = this.catalogue[layer.type].params.map((p) => this.field(layer, p));
      return el("li", { "data-type": layer.type }, tools, el("span", { class: "type" }, layer.type),
                ...params);
    }));
  }

  // Re-validate after every edit (re-rendering the list only when its structure changed).
  changed(structure = true) {
    if (structure) this.render();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.validate(), 120);
  }

  async validate() {
    const seq = (this.seq = (this.seq || 0) + 1);
    const r = await api("/api/validate", this.spec());
    if (seq !== this.seq) return;  // an older answer arriving after a newer edit
    this.valid = r.ok && r.data.ok;
    [...this.list.children].forEach((li) => li.classList.remove("bad"));
    const m = /^layers\[(\d+)\]/.exec(r.data.field || "");
    if (m && this.list.children[+m[1]]) this.list.children[+m[1]].classList.add("bad");
    if (!this.valid) {
      setMessage(this.message, r.data.error || "invalid model", "error");
      this.summary.replaceChildren();
    } else {
      const s = r.data.summary;
      setMessage(this.message, `OK: ${s.total_params.toLocaleString()} parameters`, "ok");
      this.summary.replaceChildren(
        el("tr", {}, el("th", {}, "layer"), el("th", {}, "type"), el("th", {}, "output"),
           el("th", {}, "params")),
        ...s.layers.map((l) => el("tr", {}, el("td", {}, l.name), el("td", {}, l.type),
                                  el("td", {}, `(${l.output_shape.join(", ")})`),
                                  el("td", {}, l.params.toLocaleString()))));
    }
    this.onValid(this.valid);
  }
}
