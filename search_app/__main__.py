from search_app.cli import cli

cli()
