<?php
// bench peer: PHP-FPM (pm static) behind nginx. Routes on REQUEST_URI:
// /hello answers "Hello, world!\n" as text/plain; /doc reads the document
// named by the BENCH_DOC FastCGI param from the file system on every request
// and answers it as text/html; anything else is a 404.
$uri = $_SERVER['REQUEST_URI'] ?? '';
$path = strtok($uri, '?');
if ($path === '/hello') {
    header('Content-Type: text/plain');
    echo "Hello, world!\n";
} elseif ($path === '/doc') {
    header('Content-Type: text/html');
    readfile($_SERVER['BENCH_DOC']);
} else {
    http_response_code(404);
    header('Content-Type: text/plain');
    echo "not found\n";
}
