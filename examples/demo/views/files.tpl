% rebase("base", { title })
<h1>Files</h1>
% if (user) {
<form method="post" action="{{ url('files') }}" enctype="multipart/form-data" class="card add">
  <label for="file">Upload a file (up to {{ maxKiB }} KiB)</label>
  <div class="row">
    <input id="file" name="file" type="file">
    <button>Upload</button>
  </div>
%   if (error) {
  <p class="error" role="alert">{{ error }}</p>
%   }
</form>
% } else {
<p class="hint"><a href="{{ url('login') }}">Log in</a> to upload files.</p>
% }
% if (files.length === 0) {
<p class="empty">No files yet.</p>
% } else {
<table class="files">
  <thead><tr><th>File</th><th>Size</th><th>By</th></tr></thead>
  <tbody>
%   for (const file of files) {
    <tr>
      <td><a href="{{ url('download', { id: file.id }) }}">{{ file.name }}</a></td>
      <td>{{ file.size.toLocaleString("en") }} bytes</td>
      <td>{{ file.by }}</td>
    </tr>
%   }
  </tbody>
</table>
% }
