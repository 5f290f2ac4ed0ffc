"""The local hub: one daemon per project, serving any number of hubs over the link.

server.py       Daemon: .smc files, listening, accepting hubs, shutdown
connection.py   HubConnection: one hub's link — frames in, handlers, replies out
messages.py     the requests as msgspec structs, decoded once per frame
config.py       DaemonConfig from the command line; the commands' environment
paths.py        confinement of file paths inside HOME
execute.py      project_exec: process groups, timeouts, output limits, streaming
aggregate.py    sharing one run among identical concurrent calls
files.py        text files and blobs written to files
archives.py     read_file_from_project: tar.bz2 of a file or directory
copy.py         copy_export / copy_import: tar streams between projects
pipes.py        bounded byte channels between the event loop and a worker thread
named_servers.py  named_server_port: jupyter, code-server, … on demand
"""
