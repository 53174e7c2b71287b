using Cluster.Engine.Cli;

return EngineCommands.Invoke(args);
