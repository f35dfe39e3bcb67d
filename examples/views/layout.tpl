<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{ title }}</title></head>
<body>
<main>
{{! base }}
</main>
<footer>Rendered by Carafe's templates.</footer>
</body>
</html>
