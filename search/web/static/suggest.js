// Completions as you type, from /api/suggest, into the search box's <datalist>.
// Optional: the page works without it. Nodes are built with textContent and
// value, never innerHTML (the page's CSP requires Trusted Types for sinks).
"use strict";
(function () {
  const box = document.getElementById("q");
  const list = document.getElementById("suggestions");
  if (!box || !list || !window.fetch) return;
  let timer = 0;
  let last = "";
  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(update, 150);
  });
  function update() {
    const text = box.value;
    const words = text.split(/\s+/);
    const prefix = words[words.length - 1];
    if (prefix.length < 2 || text === last) return;
    last = text;
    fetch("/api/suggest?" + new URLSearchParams({ q: prefix, limit: "8" }), { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (suggestions) {
        if (box.value !== text) return;
        const head = words.slice(0, -1).join(" ");
        list.replaceChildren();
        for (const s of suggestions) {
          const option = document.createElement("option");
          option.value = s.kind === "title" ? s.text : (head ? head + " " : "") + s.text;
          option.label = s.kind;
          list.appendChild(option);
        }
      })
      .catch(function () { /* suggestions are a nicety; the search still works */ });
  }
})();
