// The live part of the home page: the activity feed follows the server's events
// (GET /events, server-sent events). The browser reconnects by itself when a stream
// ends, sending the last event's id so that nothing is missed.
const live = document.getElementById("live");
if (live && "EventSource" in window) {
  const list = document.getElementById("activity");
  const status = document.getElementById("live-status");
  const source = new EventSource(live.dataset.events);
  source.addEventListener("open", () => {
    status.textContent = "live";
    live.dataset.state = "open";
  });
  source.addEventListener("error", () => {
    status.textContent = "reconnecting…";
    live.dataset.state = "closed";
  });
  source.addEventListener("message", (message) => {
    const event = JSON.parse(message.data);
    const item = document.createElement("li");
    item.textContent = event.message; // text, never HTML: the message holds what users typed
    item.className = "new";
    list.prepend(item);
    while (list.children.length > 30) list.lastElementChild.remove();
  });
}
