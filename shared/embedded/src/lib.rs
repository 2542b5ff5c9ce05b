pub mod object_server;
