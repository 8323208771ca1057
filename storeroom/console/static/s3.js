// Storeroom console, S3 "Upload": files chosen or dropped are sent to the console (same origin, the session
// cookie and the CSRF token in a header), which streams them on to S3 as the signed-in principal. Small files in
// one request (PutObject); large ones in parts (CreateMultipartUpload, UploadPart, CompleteMultipartUpload), so
// a file of any size S3 takes (5 TB) goes through, one part in memory at a time neither here nor there.
"use strict";

(function () {
  var MiB = 1024 * 1024;
  var PART = 8 * MiB;             // S3's parts are 5 MiB at least (but the last) and at most 10,000
  var MULTIPART_FROM = 16 * MiB;

  function partSize(size) {
    var needed = Math.ceil(size / 10000);
    return Math.max(PART, Math.ceil(needed / MiB) * MiB);
  }

  function human(size) {
    var units = ["B", "KB", "MB", "GB", "TB"], i = 0;
    while (size >= 1024 && i < units.length - 1) { size /= 1024; i++; }
    return i === 0 ? size + " B" : size.toFixed(1) + " " + units[i];
  }

  function Uploader(form) {
    this.form = form;
    this.files = [];
    this.csrf = form.getAttribute("data-csrf");
    this.base = "/s3/buckets/" + encodeURIComponent(form.getAttribute("data-bucket")) + "/upload/";
    this.prefix = form.getAttribute("data-prefix") || "";
    this.tbody = form.querySelector("[data-files]");
    this.total = form.querySelector("[data-total]");
    this.summary = form.querySelector("[data-summary]");
    this.errors = form.querySelector("[data-errors]");
    this.count = form.querySelector("[data-count]");
    this.button = form.querySelector("[data-start]");
  }

  Uploader.prototype.add = function (list) {
    var self = this;
    Array.prototype.forEach.call(list, function (file) {
      var row = document.createElement("tr");
      var status = document.createElement("progress");
      status.max = 100; status.value = 0;
      status.setAttribute("aria-label", "Upload progress for " + file.name);
      var cells = [file.name, file.type || "-", human(file.size)];
      cells.forEach(function (text) { var td = document.createElement("td"); td.textContent = text; row.appendChild(td); });
      var td = document.createElement("td"), label = document.createElement("span");
      label.textContent = "Pending"; label.setAttribute("data-state", "");
      td.appendChild(status); td.appendChild(document.createTextNode(" ")); td.appendChild(label);
      row.appendChild(td);
      self.tbody.appendChild(row);
      self.files.push({ file: file, progress: status, label: label, sent: 0 });
    });
    var empty = this.tbody.querySelector("[data-empty]");
    if (empty && this.files.length) empty.remove();
    this.count.textContent = String(this.files.length);
  };

  // One request: a Blob body with its Content-Length, progress reported as it is sent.
  Uploader.prototype.send = function (path, params, body, onProgress, type) {
    var self = this;
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      var query = Object.keys(params).map(function (k) {
        return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]);
      }).join("&");
      xhr.open("POST", self.base + path + "?" + query);
      xhr.setRequestHeader("X-CSRF-Token", self.csrf);
      if (type) xhr.setRequestHeader("X-File-Type", type);
      if (onProgress) xhr.upload.addEventListener("progress", function (e) { onProgress(e.loaded); });
      xhr.onload = function () {
        var answer = {};
        try { answer = JSON.parse(xhr.responseText || "{}"); } catch (e) { answer = { message: xhr.statusText }; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(answer);
        else reject(answer.code ? answer : { code: String(xhr.status), message: xhr.statusText });
      };
      xhr.onerror = function () { reject({ code: "NetworkError", message: "The connection to the console failed." }); };
      xhr.send(body === null ? new Blob([]) : body);
    });
  };

  Uploader.prototype.update = function () {
    var size = 0, sent = 0;
    this.files.forEach(function (f) { size += f.file.size; sent += f.sent; });
    var percent = size ? Math.floor(sent * 100 / size) : 100;
    this.total.value = percent;
    this.total.textContent = percent + " %";
  };

  Uploader.prototype.uploadOne = function (entry) {
    var self = this, file = entry.file, key = this.prefix + file.name;
    function progress(base) {
      return function (loaded) {
        entry.sent = Math.min(file.size, base + loaded);
        entry.progress.value = file.size ? Math.floor(entry.sent * 100 / file.size) : 100;
        self.update();
      };
    }
    entry.label.textContent = "Uploading";
    if (file.size < MULTIPART_FROM) {
      return this.send("put", { key: key }, file, progress(0), file.type);
    }
    var size = partSize(file.size), parts = [], uploadId = null;
    return this.send("start", { key: key }, null, null, file.type).then(function (started) {
      uploadId = started.uploadId;
      var chain = Promise.resolve();
      for (var offset = 0, number = 1; offset < file.size; offset += size, number++) {
        chain = chain.then((function (start, n) {
          return function () {
            return self.send("part", { key: key, uploadId: uploadId, partNumber: n },
                             file.slice(start, Math.min(file.size, start + size)), progress(start))
              .then(function (answer) { parts.push({ PartNumber: n, ETag: answer.etag }); });
          };
        })(offset, number));
      }
      return chain;
    }).then(function () {
      return self.send("complete", { key: key, uploadId: uploadId }, new Blob([JSON.stringify(parts)]), null);
    }).catch(function (err) {
      if (uploadId) self.send("abort", { key: key, uploadId: uploadId }, null, null).catch(function () {});
      throw err;
    });
  };

  Uploader.prototype.run = function () {
    var self = this, failed = 0, done = 0;
    this.button.disabled = true;
    this.errors.textContent = "";
    var chain = Promise.resolve();
    this.files.forEach(function (entry) {
      if (entry.finished) return;
      chain = chain.then(function () {
        return self.uploadOne(entry).then(function () {
          entry.finished = true; done++;
          entry.sent = entry.file.size; entry.progress.value = 100;
          entry.label.textContent = "Succeeded";
          self.update();
        }, function (err) {
          failed++;
          entry.label.textContent = "Failed";
          var p = document.createElement("p");
          p.textContent = entry.file.name + ": " + err.code + ": " + err.message +
            (err.denial ? " (" + err.denial.reason + ")" : "");
          self.errors.appendChild(p);
        });
      });
    });
    chain.then(function () {
      self.update();
      self.button.disabled = false;
      self.summary.textContent = failed ? "Upload failed: " + failed + " file(s) could not be uploaded." :
        "Upload succeeded: " + done + " file(s), " + human(self.files.reduce(function (s, f) { return s + f.file.size; }, 0)) + ".";
      if (!failed) {
        var link = document.createElement("a");
        link.href = self.form.getAttribute("data-done");
        link.textContent = "Close";
        self.summary.appendChild(document.createTextNode(" "));
        self.summary.appendChild(link);
      }
    });
  };

  function setUp(form) {
    var uploader = new Uploader(form);
    var input = form.querySelector("input[type=file]");
    input.addEventListener("change", function () { uploader.add(input.files); input.value = ""; });
    var zone = form.querySelector("[data-dropzone]");
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) { if (e.dataTransfer) uploader.add(e.dataTransfer.files); });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!uploader.files.length) { uploader.summary.textContent = "Add files to upload first."; return; }
      uploader.run();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-upload]").forEach(setUp);
  });
})();
