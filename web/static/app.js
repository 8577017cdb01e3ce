/* The UI's only script: posts action forms to the API itself, shows its problem+json errors next to the
   fields they name, uploads evidence and ledgers, and polls an import's progress. No framework, no build step,
   ES2017 so older intranet browsers run it. The session cookie authenticates; X-Xiaohao-UI tells the API the
   call comes from these pages (web/session.py refuses cookie-authenticated writes without it). */
(function () {
  "use strict";

  var UI_HEADER = "X-Xiaohao-UI";

  // Idempotency keys: crypto.randomUUID needs a secure context, which a plain-http intranet is not.
  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "ui-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function toLogin() {
    var back = window.location.pathname + window.location.search;
    window.location.assign("/ui/login?expired=1&next=" + encodeURIComponent(back));
  }

  async function readProblem(response) {
    try {
      return await response.json();
    } catch (err) {
      return { title: "请求失败", detail: "服务返回 " + response.status + "，请稍后重试" };
    }
  }

  function clearErrors(form) {
    form.querySelectorAll(".field").forEach(function (field) {
      field.classList.remove("has-error");
      var slot = field.querySelector(".field-error");
      if (slot) slot.textContent = "";
    });
    var top = form.querySelector(".form-error");
    if (top) { top.hidden = true; top.textContent = ""; }
  }

  // The API names a field by its JSON path ("deadline", "evidence.0", "enterprise.credit_code"): the form's
  // field is the first part, unless a field carries the whole path.
  function fieldFor(form, name) {
    var exact = form.querySelector('.field[data-field="' + name + '"]');
    if (exact) return exact;
    return form.querySelector('.field[data-field="' + String(name).split(".")[0] + '"]');
  }

  function showProblem(form, problem) {
    var unplaced = [];
    (problem.errors || []).forEach(function (error) {
      var field = fieldFor(form, error.field);
      if (field) {
        field.classList.add("has-error");
        var slot = field.querySelector(".field-error");
        slot.textContent = slot.textContent ? slot.textContent + "；" + error.message : error.message;
      } else {
        unplaced.push(error.field + "：" + error.message);
      }
    });
    if (!problem.errors || unplaced.length) {
      var top = form.querySelector(".form-error");
      var text = (problem.title || "操作失败") + (problem.detail ? "：" + problem.detail : "");
      if (unplaced.length) text = (problem.title || "提交的数据不合法") + "：" + unplaced.join("；");
      top.textContent = text;
      top.hidden = false;
    }
  }

  async function uploadEvidence(form, input) {
    var refs = [];
    for (var i = 0; i < input.files.length; i++) {
      var body = new FormData();
      body.append("file", input.files[i]);
      var headers = {};
      headers[UI_HEADER] = "1";
      var response = await fetch("/evidence", { method: "POST", body: body, headers: headers, credentials: "same-origin" });
      if (response.status === 401) { toLogin(); return null; }
      if (!response.ok) {
        var problem = await readProblem(response);
        var field = fieldFor(form, input.name);
        field.classList.add("has-error");
        field.querySelector(".field-error").textContent = input.files[i].name + "：" + (problem.detail || problem.title);
        return null;
      }
      refs.push((await response.json()).ref);
    }
    return refs;
  }

  // The form as the API's JSON body: empty optional fields left out, "true"/"false" choices as booleans.
  async function bodyOf(form) {
    var body = {};
    var elements = form.querySelectorAll("input, select, textarea");
    for (var i = 0; i < elements.length; i++) {
      var el = elements[i];
      if (!el.name) continue;
      if (el.dataset.kind === "files") {
        if (!el.files.length) continue;
        var refs = await uploadEvidence(form, el);
        if (refs === null) return null;
        body[el.name] = refs;
        continue;
      }
      if (el.type === "radio" && !el.checked) continue;
      var value = el.value.trim();
      if (value === "") continue;
      body[el.name] = el.dataset.json === "bool" ? value === "true" : value;
    }
    return body;
  }

  async function submitAction(form, event) {
    event.preventDefault();
    clearErrors(form);
    if (form.dataset.grave && !window.confirm("确认提交“" + form.dataset.title + "”？提交后不可撤回。")) return;
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      var body = await bodyOf(form);
      if (body === null) return;
      // One key per attempt: a retry after a lost answer (the same attempt) must not act twice.
      form.dataset.key = form.dataset.key || newKey();
      var headers = { "Content-Type": "application/json", "Idempotency-Key": form.dataset.key };
      headers[UI_HEADER] = "1";
      var response = await fetch(form.dataset.endpoint, {
        method: "POST", body: JSON.stringify(body), headers: headers, credentials: "same-origin"
      });
      if (response.status === 401) { toLogin(); return; }
      if (response.ok) { window.location.reload(); return; }
      delete form.dataset.key;  // refused: nothing happened, the next attempt is a new one
      showProblem(form, await readProblem(response));
    } catch (err) {
      showProblem(form, { title: "网络错误", detail: "未能连接服务，请检查网络后重试" });
    } finally {
      button.disabled = false;
    }
  }

  // The list's filter form: empty fields are "any" and stay out of the address (the API's filter names).
  function tidyFilters(form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("input, select").forEach(function (el) {
        if (el.name && el.value === "") el.disabled = true;
      });
    });
  }

  // Evidence that is not a picture (PDF, Word, Excel) or cannot be shown becomes a download link.
  function evidenceFallback(img) {
    function swap() {
      var link = document.createElement("a");
      link.href = img.src;
      link.className = "file-link";
      link.textContent = "下载查看";
      img.parentNode.replaceWith(link);
    }
    if (img.complete && img.naturalWidth === 0) swap();
    else img.addEventListener("error", swap);
  }

  // --- ledger import -----------------------------------------------------------------------------------------
  var STATUS_TEXT = {
    validating: "正在校验", invalid: "校验未通过，未导入任何隐患", importing: "正在导入",
    done: "导入完成", failed: "导入失败"
  };

  function showJob(box, job) {
    box.hidden = false;
    box.className = "import-progress " + job.status;
    var total = job.status === "importing" || job.status === "done" ? job.valid_rows : job.total_rows;
    var reached = job.imported + job.skipped;
    var share = job.status === "done" ? 100 : (total ? Math.round(100 * reached / total) : 0);
    if (job.status === "invalid" || job.status === "validating") share = job.status === "invalid" ? 100 : 5;
    box.querySelector(".bar").style.width = share + "%";
    box.querySelector(".status").textContent = (STATUS_TEXT[job.status] || job.status) + "：" + job.filename +
      "，共 " + job.total_rows + " 行，合格 " + job.valid_rows + " 行，已导入 " + job.imported + " 行，跳过 " + job.skipped + " 行";
    var table = box.querySelector(".import-errors");
    var rows = table.querySelector("tbody");
    rows.textContent = "";
    (job.errors || []).forEach(function (error) {
      var tr = document.createElement("tr");
      [error.row, error.column || "", error.message].forEach(function (text, i) {
        var td = document.createElement("td");
        td.textContent = text;
        if (i === 0) td.className = "num";
        tr.appendChild(td);
      });
      rows.appendChild(tr);
    });
    table.hidden = !(job.errors || []).length;
  }

  async function followJob(box, id) {
    var headers = {};
    headers[UI_HEADER] = "1";
    for (;;) {
      var response = await fetch("/imports/" + encodeURIComponent(id), { headers: headers, credentials: "same-origin" });
      if (response.status === 401) { toLogin(); return; }
      if (!response.ok) {
        var problem = await readProblem(response);
        box.querySelector(".status").textContent = (problem.title || "查询进度失败") + "：" + (problem.detail || "");
        return;
      }
      var job = await response.json();
      showJob(box, job);
      if (job.status !== "validating" && job.status !== "importing") return;
      await new Promise(function (resolve) { window.setTimeout(resolve, 1000); });
    }
  }

  function uploadLedger(form, box, event) {
    event.preventDefault();
    clearErrors(form);
    var file = form.querySelector("input[type=file]");
    if (!file.files.length) {
      showProblem(form, { errors: [{ field: "file", message: "请选择台账文件" }] });
      return;
    }
    var body = new FormData();
    body.append("file", file.files[0]);
    body.append("only_valid", form.querySelector("input[name=only_valid]").checked ? "true" : "false");
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    box.hidden = false;
    box.className = "import-progress";
    box.querySelector(".status").textContent = "正在上传…";
    // XMLHttpRequest, not fetch: only it reports upload progress.
    var request = new XMLHttpRequest();
    request.open("POST", "/imports");
    request.setRequestHeader(UI_HEADER, "1");
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        box.querySelector(".bar").style.width = Math.round(100 * e.loaded / e.total) + "%";
        box.querySelector(".status").textContent = "正在上传 " + Math.round(100 * e.loaded / e.total) + "%";
      }
    });
    request.addEventListener("load", function () {
      button.disabled = false;
      var answer;
      try { answer = JSON.parse(request.responseText); } catch (err) { answer = { title: "上传失败", detail: "服务返回 " + request.status }; }
      if (request.status === 401) { toLogin(); return; }
      if (request.status >= 400) { box.hidden = true; showProblem(form, answer); return; }
      showJob(box, answer);
      followJob(box, answer.id);
    });
    request.addEventListener("error", function () {
      button.disabled = false;
      box.hidden = true;
      showProblem(form, { title: "网络错误", detail: "未能连接服务，请检查网络后重试" });
    });
    request.send(body);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.action-form").forEach(function (form) {
      form.addEventListener("submit", function (event) { submitAction(form, event); });
    });
    var filters = document.getElementById("filters");
    if (filters) tidyFilters(filters);
    document.querySelectorAll("img.evidence-img").forEach(evidenceFallback);
    var importForm = document.getElementById("import-form");
    if (importForm) {
      var box = document.getElementById("import-progress");
      importForm.addEventListener("submit", function (event) { uploadLedger(importForm, box, event); });
    }
  });
})();
