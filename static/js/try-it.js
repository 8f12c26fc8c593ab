// The Try it console: builds a request from the endpoint's parameters and sends it through
// the gateway with the consumer's key (fetch, same origin), then shows what came back.
(function () {
  "use strict";
  var root = document.querySelector(".try-it");
  if (!root) return;
  var endpoints = JSON.parse(document.getElementById("try-endpoints").textContent);
  var select = document.getElementById("try-endpoint");
  var params = document.getElementById("try-params");
  var keyInput = document.getElementById("try-key");
  var bodyInput = document.getElementById("try-body");
  var stored = sessionStorage.getItem("tollgate-try-key");
  if (stored) keyInput.value = stored;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  function render() {
    var endpoint = endpoints[select.value];
    params.textContent = "";
    (endpoint.parameters || []).forEach(function (p) {
      if (p.in !== "path" && p.in !== "query" && p.in !== "header") return;
      var id = "try-p-" + p.in + "-" + p.name;
      var row = el("div", {class: "form-row"});
      row.appendChild(el("label", {for: id}, p.name + (p.required ? " *" : "") + "  (" + p.in + ")"));
      var input = el("input", {type: "text", id: id, "data-in": p.in, "data-name": p.name});
      var example = p.example !== undefined ? p.example : (p.schema && p.schema.example);
      if (example !== undefined && example !== null) input.value = String(example);
      row.appendChild(input);
      if (p.description) row.appendChild(el("span", {class: "help"}, p.description));
      params.appendChild(row);
    });
    var hasBody = !!endpoint.body_example || ["POST", "PUT", "PATCH"].indexOf(endpoint.method) >= 0;
    document.getElementById("try-body-row").hidden = !hasBody;
    bodyInput.value = endpoint.body_example ? JSON.stringify(endpoint.body_example, null, 2) : "";
    document.getElementById("try-url").textContent = endpoint.method + " " + buildUrl(endpoint);
  }

  function buildUrl(endpoint) {
    var path = endpoint.path, query = [];
    params.querySelectorAll("input").forEach(function (input) {
      var name = input.getAttribute("data-name"), where = input.getAttribute("data-in");
      if (where === "path") path = path.replace("{" + name + "}", encodeURIComponent(input.value));
      if (where === "query" && input.value !== "") query.push(encodeURIComponent(name) + "=" + encodeURIComponent(input.value));
    });
    return root.getAttribute("data-gateway") + path + (query.length ? "?" + query.join("&") : "");
  }

  function send(event) {
    event.preventDefault();
    var endpoint = endpoints[select.value];
    var headers = {"X-Api-Key": keyInput.value.trim()};
    params.querySelectorAll("input[data-in=header]").forEach(function (input) {
      if (input.value) headers[input.getAttribute("data-name")] = input.value;
    });
    var init = {method: endpoint.method, headers: headers, credentials: "omit"};
    if (!document.getElementById("try-body-row").hidden && bodyInput.value.trim()) {
      init.body = bodyInput.value;
      headers["Content-Type"] = "application/json";
    }
    sessionStorage.setItem("tollgate-try-key", keyInput.value.trim());
    var button = document.getElementById("try-send");
    button.disabled = true;
    var started = performance.now();
    fetch(buildUrl(endpoint), init).then(function (response) {
      var lines = [];
      response.headers.forEach(function (value, name) { lines.push(name + ": " + value); });
      document.getElementById("try-headers").textContent = lines.join("\n");
      var status = document.getElementById("try-status");
      status.textContent = response.status;
      status.className = "status-code status-" + String(response.status)[0];
      var type = response.headers.get("content-type") || "";
      if (type.indexOf("image/") === 0) {
        return response.blob().then(function (blob) {
          var out = document.getElementById("try-response");
          out.textContent = "";
          out.appendChild(el("img", {src: URL.createObjectURL(blob), alt: "Response image"}));
        });
      }
      return response.text().then(function (text) {
        try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON */ }
        document.getElementById("try-response").textContent = text;
      });
    }).catch(function (error) {
      document.getElementById("try-status").textContent = "failed";
      document.getElementById("try-response").textContent = String(error);
    }).finally(function () {
      document.getElementById("try-time").textContent = Math.round(performance.now() - started) + " ms";
      document.getElementById("try-result").hidden = false;
      button.disabled = false;
    });
  }

  document.getElementById("try-temp-key").addEventListener("click", function (event) {
    var button = event.currentTarget;
    button.disabled = true;
    fetch(button.getAttribute("data-url"), {method: "POST", headers: {
      "X-CSRFToken": document.querySelector("meta[name=csrf-token]").content}})
      .then(function (r) { return r.json(); })
      .then(function (data) { keyInput.value = data.key; keyInput.type = "text"; })
      .finally(function () { button.disabled = false; });
  });
  select.addEventListener("change", render);
  params.addEventListener("input", function () {
    document.getElementById("try-url").textContent = endpoints[select.value].method + " " + buildUrl(endpoints[select.value]);
  });
  document.getElementById("try-form").addEventListener("submit", send);
  render();
})();
