// The residents' app: built in the next step of the workspace (issue 13); this entry shows its name.
document.title = '邻里'
