<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · Carafe demo</title>
<link rel="stylesheet" href="{{ url('static', { path: 'style.css' }) }}">
<script src="{{ url('static', { path: 'app.js' }) }}" defer></script>
</head>
<body>
<header class="bar">
  <a class="brand" href="{{ url('home') }}">Carafe to-do</a>
  <nav>
    <a href="{{ url('home') }}">To-do</a>
    <a href="{{ url('files') }}">Files</a>
    <a href="{{ url('home') }}api/todos">API</a>
% if (user) {
    <form method="post" action="{{ url('logout') }}" class="inline">
      <span class="who">{{ user }}</span> <button class="small">Log out</button>
    </form>
% } else {
    <a class="button" href="{{ url('login') }}">Log in</a>
% }
  </nav>
</header>
<main>
{{! base }}
</main>
<footer>
  Served by Carafe.
  See the <a href="{{ url('home') }}no-such-page">404</a> and <a href="{{ url('oops') }}">500</a> pages.
</footer>
</body>
</html>
