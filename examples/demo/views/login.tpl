% rebase("base", { title })
<h1>Log in</h1>
<form method="post" action="{{ url('login') }}" class="card narrow" novalidate>
  <label for="name">Name</label>
  <input id="name" name="name" value="{{ name }}" autocomplete="username" autofocus>
% if (errors.name) {
  <p class="error" role="alert">{{ errors.name }}</p>
% }
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password">
% if (errors.password) {
  <p class="error" role="alert">{{ errors.password }}</p>
% }
  <button>Log in</button>
% if (hint) {
  <p class="hint">Any name will do; the demo's password is <code>carafe</code> (set <code>DEMO_PASSWORD</code> to change it).</p>
% }
</form>
