% rebase("layout", { title })
<h1>{{ title }}</h1>
<ul>
% for (const book of books) {
  <li>{{ book.title }} ({{ book.year }})</li>
% }
</ul>
