"""`fairvision publish`: report cards as a static site with history (one folder per run, an index, trend pages).

Modules, one job each: ``identity`` (which run a report folder is), ``summary`` (a card in brief),
``site`` (the site's layout and history.json), ``charts`` and ``pages`` (the index and trend
pages, rebuilt from history), ``target`` (a folder or S3 prefix, written one whole file at a
time) and ``build`` (the order of writes that keeps every link whole).
"""
