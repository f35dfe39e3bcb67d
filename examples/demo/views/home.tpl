% rebase("base", { title })
<div class="columns">
<section>
  <h1>To-do</h1>
% if (user) {
  <form method="post" action="{{ url('add_todo') }}" class="card add" novalidate>
    <label for="text">New item</label>
    <div class="row">
      <input id="text" name="text" value="{{ text }}" maxlength="300" placeholder="Buy milk" autofocus>
      <button>Add</button>
    </div>
%   if (error) {
    <p class="error" role="alert">{{ error }}</p>
%   }
  </form>
% } else {
  <p class="hint"><a href="{{ url('login') }}">Log in</a> to add items and upload files.</p>
% }
% if (todos.length === 0) {
  <p class="empty">Nothing to do yet.</p>
% }
  <ul class="todos">
% for (const todo of todos) {
    <li class="{{ todo.done ? 'done' : 'open' }}">
      <span class="text">{{ todo.text }}</span> <small>by {{ todo.by }}</small>
%   if (user && !todo.done) {
      <form method="post" action="{{ url('done_todo', { id: todo.id }) }}" class="inline">
        <button class="small">Done</button>
      </form>
%   }
    </li>
% }
  </ul>
</section>
<aside class="card live" id="live" data-events="{{ url('events') }}?since={{ lastSeq }}">
  <h2>Live activity <span class="status" id="live-status">connecting…</span></h2>
  <ul id="activity">
% for (const event of activity) {
    <li>{{ event.message }}</li>
% }
  </ul>
</aside>
</div>
