// The console's only script: page the timeline (endless scroll and filters) and wait for a
// logged call to reach it. Everything else works without JavaScript.
"use strict";

(function () {
  const page = document.querySelector(".card-page");
  const list = document.getElementById("events");
  if (!page || !list) return;
  const base = `/console/customers/${page.dataset.profileId}/timeline`;
  const more = document.getElementById("more");
  const end = document.getElementById("timeline-end");
  const filters = document.getElementById("timeline-filters");
  const status = document.getElementById("status");
  let loading = false;

  function query(cursor) {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(filters)) if (value) params.set(name, value);
    if (cursor) params.set("cursor", cursor);
    return `${base}?${params}`;
  }

  async function fetchPage(cursor) {
    const response = await fetch(query(cursor), { credentials: "same-origin", cache: "no-store" });
    if (response.status === 401) { window.location.assign("/console/signin"); return null; }
    if (!response.ok) throw new Error(await response.text());
    return { html: await response.text(), next: response.headers.get("X-Next-Cursor") || "" };
  }

  function settle(next) {
    list.dataset.nextCursor = next;
    more.hidden = !next;
    end.hidden = Boolean(next);
    if (!next) end.textContent = list.children.length ? "That is everything." : "Nothing matches.";
  }

  async function load(replace) {
    if (loading) return;
    const cursor = replace ? "" : list.dataset.nextCursor;
    if (!replace && !cursor) return;
    loading = true;
    try {
      const found = await fetchPage(cursor);
      if (!found) return;
      if (replace) list.innerHTML = found.html; else list.insertAdjacentHTML("beforeend", found.html);
      settle(found.next);
    } catch (error) {
      status.textContent = "The timeline could not be loaded; try again in a moment.";
    } finally {
      loading = false;
    }
  }

  more.addEventListener("click", () => load(false));
  filters.addEventListener("change", () => load(true));
  // Endless scroll: the next page loads as the end of the list comes into view.
  new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) load(false);
  }).observe(more);

  // After logging a call: poll until the event is in the timeline, then show the fresh card.
  const pending = page.dataset.pending;
  if (pending) {
    const started = Date.now();
    const poll = async () => {
      try {
        const found = await fetchPage("");
        if (found && found.html.includes(`data-event-id="${pending}"`)) {
          window.location.replace(`${window.location.pathname}?seen=${encodeURIComponent(pending)}`);
          return;
        }
      } catch (error) { /* keep trying until the deadline */ }
      if (Date.now() - started < 15000) setTimeout(poll, 200);
      else status.textContent = "Logged; it is taking longer than usual to show. Reload in a moment.";
    };
    poll();
  }
  const seen = new URLSearchParams(window.location.search).get("seen");
  if (seen) {
    const item = list.querySelector(`[data-event-id="${CSS.escape(seen)}"]`);
    if (item) item.classList.add("fresh");
    status.textContent = "Saved: it is in the timeline.";
  }
})();
