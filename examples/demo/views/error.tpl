% rebase("base", { title })
<div class="card narrow problem">
  <p class="status">{{ status }}</p>
  <h1>{{ title }}</h1>
  <p>{{ message }}</p>
  <p><a href="{{ url('home') }}">Back to the list</a></p>
</div>
