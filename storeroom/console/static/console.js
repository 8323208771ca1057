// Storeroom console: small progressive enhancements. Every page works without this file, except where a
// secret stays in the browser on purpose (the access key CSV is made here, never fetched from the server).
"use strict";

function each(selector, fn, root) { (root || document).querySelectorAll(selector).forEach(fn); }

// Sign-in: show the fields of the chosen option (root user or IAM user) and submit only those.
function signinKinds(form) {
  function update() {
    var checked = form.querySelector("input[name=kind]:checked");
    var kind = checked ? checked.value : "root";
    each("fieldset[data-kind]", function (fs) {
      var on = fs.getAttribute("data-kind") === kind;
      fs.hidden = !on; fs.disabled = !on;
    }, form);
  }
  each("input[name=kind]", function (radio) { radio.addEventListener("change", update); }, form);
  update();
}

// Radio groups that reveal one section each: <input name=x value=v data-reveals> + <section data-shown-by="x=v">
function revealers() {
  var names = {};
  each("input[data-reveals]", function (input) { names[input.name] = true; });
  Object.keys(names).forEach(function (name) {
    function update() {
      var checked = document.querySelector("input[name='" + name + "']:checked");
      each("[data-shown-by^='" + name + "=']", function (el) {
        var on = checked && el.getAttribute("data-shown-by") === name + "=" + checked.value;
        el.hidden = !on;
      });
    }
    each("input[name='" + name + "']", function (input) { input.addEventListener("change", update); });
    update();
  });
  each("input[type=checkbox][data-toggles]", function (box) {
    function update() { each(box.getAttribute("data-toggles"), function (el) { el.hidden = !box.checked; }); }
    box.addEventListener("change", update); update();
  });
}

// A search box that filters the rows of a table as one types.
function tableFilters() {
  each("input[data-filter-table]", function (input) {
    var table = document.querySelector(input.getAttribute("data-filter-table"));
    if (!table) return;
    function update() {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      each("tbody tr", function (row) {
        var text = row.textContent.toLowerCase();
        var match = words.every(function (w) { return text.indexOf(w) >= 0; });
        row.classList.toggle("hidden", !match && !row.querySelector("input:checked"));
      }, table);
    }
    input.addEventListener("input", update);
    input.form && input.form.addEventListener("submit", function (e) {
      if (document.activeElement === input) { e.preventDefault(); update(); }  // Enter filters, never submits
    });
    update();
  });
}

// "Show" / "Hide" next to a secret.
function secretToggles() {
  each("button[data-toggle-secret]", function (button) {
    var input = document.getElementById(button.getAttribute("data-toggle-secret"));
    button.hidden = false;
    button.addEventListener("click", function () {
      var show = input.type === "password";
      input.type = show ? "text" : "password";
      button.textContent = show ? "Hide" : "Show";
      button.setAttribute("aria-pressed", show ? "true" : "false");
    });
  });
}

// A CSV field as RFC 4180 writes it: quoted (its quotes doubled) when it holds a comma, a quote or a line break,
// which a console password may.
function csvField(value) {
  return /[",\r\n]/.test(value) ? '"' + value.replace(/"/g, '""') + '"' : value;
}

// "Download .csv file": AWS's CSV, made from the values on the page (the secret never travels again).
function csvDownloads() {
  each("button[data-download-csv]", function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var header = button.getAttribute("data-csv-header");
      var values = button.getAttribute("data-csv-fields").split(",").map(function (id) {
        return document.getElementById(id).value;
      });
      var blob = new Blob([header + "\n" + values.map(csvField).join(",") + "\n"], { type: "text/csv" });
      var link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = button.getAttribute("data-download-csv");
      document.body.appendChild(link);
      link.click();
      setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
    });
  });
}

// Confirmations that ask to type a value (delete an access key: its id).
function typedConfirmations() {
  each("input[data-confirm-value]", function (input) {
    var button = document.getElementById(input.getAttribute("data-confirms"));
    function update() { button.disabled = input.value.trim() !== input.getAttribute("data-confirm-value"); }
    input.addEventListener("input", update); update();
  });
}

// Line and column of the JSON editor's caret, for finding the place a validation message names.
function editorPositions() {
  each("textarea[data-position]", function (area) {
    var out = document.getElementById(area.getAttribute("data-position"));
    function update() {
      var before = area.value.slice(0, area.selectionStart).split("\n");
      out.textContent = "Line " + before.length + ", column " + (before[before.length - 1].length + 1);
    }
    ["keyup", "click", "focus"].forEach(function (e) { area.addEventListener(e, update); });
  });
  each("a[data-goto-line]", function (link) {
    link.addEventListener("click", function (e) {
      var area = document.getElementById(link.getAttribute("data-editor"));
      var line = +link.getAttribute("data-goto-line"), column = +link.getAttribute("data-goto-column");
      var lines = area.value.split("\n"), offset = 0;
      for (var i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
      offset += Math.max(0, column - 1);
      e.preventDefault(); area.focus(); area.setSelectionRange(offset, offset);
    });
  });
}

// "Copy" next to a read-only value (a presigned URL).
function copyButtons() {
  each("button[data-copy]", function (button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    button.hidden = false;
    button.addEventListener("click", function () {
      input.select();
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard) navigator.clipboard.writeText(input.value).then(done, function () {});
      else if (document.execCommand("copy")) done();
    });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  copyButtons();
  each("form[data-signin]", signinKinds);
  revealers();
  tableFilters();
  secretToggles();
  csvDownloads();
  typedConfirmations();
  editorPositions();
});
