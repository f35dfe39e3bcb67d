% rebase("layout", { title: `Hello ${name}` })
<h1>Hello {{ name }}!</h1>
